"""Character vocabularies with pad, bos, eos and unk ids."""

from typing import Iterable, Sequence

import numpy as np

from s2s.errors import UserError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


class CharVocab:
  """Maps characters to ids 4.. and back; ids 0-3 are pad, bos, eos, unk."""

  def __init__(self, chars: Iterable[str]):
    self.chars = "".join(dict.fromkeys(chars))  # unique, in the given order
    self._ids = {c: i + len(SPECIALS) for i, c in enumerate(self.chars)}

  @property
  def size(self) -> int:
    return len(SPECIALS) + len(self.chars)

  def encode(self, text: str, *, unknown: str = "error") -> list[int]:
    """Ids of `text`'s characters (no bos/eos).

    unknown="error" raises a UserError naming the first character not in the
    vocabulary; unknown="unk" maps it to UNK.
    """
    ids = []
    for c in text:
      i = self._ids.get(c)
      if i is None:
        if unknown != "unk":
          raise UserError(
              f"{text!r} contains the character {c!r}, which is not in the vocabulary "
              f"{self.chars!r}")
        i = UNK
      ids.append(i)
    return ids

  def piece(self, i: int) -> str:
    """What one id stands for, for display (attention plots); specials as <pad>, <eos>, ..."""
    i = int(i)
    return SPECIALS[i] if i < len(SPECIALS) else self.chars[i - len(SPECIALS)]

  def decode(self, ids: Sequence[int]) -> str:
    """Text of `ids` up to the first EOS; pad and bos are skipped, unk shows as U+FFFD."""
    out = []
    for i in np.asarray(ids).tolist():
      if i == EOS:
        break
      if i == UNK:
        out.append("\ufffd")
      elif i >= len(SPECIALS):
        out.append(self.chars[i - len(SPECIALS)])
    return "".join(out)
