"""Tokenizers for text: characters, words (captions), or sentencepiece subwords.

A tokenizer is trained on the training split only and saved in the run's workdir
(`save(os.path.join(workdir, "tokenizer"))`), so that prediction encodes and decodes
with exactly the vocabulary the model was trained on. Ids 0-3 are PAD, BOS, EOS and
UNK for both kinds, as in `s2s.vocab`; `encode` adds neither BOS nor EOS.
"""

import collections
import io
import json
import os
import re
import tempfile
from typing import Iterable, Protocol, Sequence

import numpy as np
import sentencepiece as spm

from s2s.errors import UserError
from s2s.vocab import BOS, EOS, PAD, SPECIALS, UNK, CharVocab

KINDS = ("char", "word", "spm")
SPM_MODEL_TYPES = ("unigram", "bpe", "char", "word")
_SUFFIX = {"char": ".json", "word": ".words.json", "spm": ".model"}


class Tokenizer(Protocol):
  """What training and prediction need from a tokenizer of either kind."""

  kind: str  # "char", "word" or "spm"
  size: int  # number of ids, specials included

  def encode(self, text: str) -> list[int]:
    """Ids of `text`, no BOS/EOS; anything not in the vocabulary becomes UNK."""

  def decode(self, ids) -> str:
    """Text of `ids` (1-D ints) up to the first EOS; PAD and BOS are skipped."""

  def piece(self, i: int) -> str:
    """What one id stands for, for display (attention plots); specials as <pad>, <eos>, ..."""

  def save(self, path_prefix: str) -> None:
    """Writes `path_prefix` + ".json" (char) or ".model" (spm), atomically."""


class CharTokenizer:
  """One id per character seen in training; everything else is UNK ("\\ufffd" when decoded)."""

  kind = "char"

  def __init__(self, chars: Sequence[str]):
    """`chars` get ids 4, 5, ... in the given order."""
    self._vocab = CharVocab(chars)
    self.chars = self._vocab.chars
    self.size = self._vocab.size

  @classmethod
  def train(cls, texts: Iterable[str], min_count: int = 1) -> "CharTokenizer":
    """Keeps the characters seen at least `min_count` times in `texts`.

    Ids follow decreasing frequency, ties broken by codepoint, so the same texts
    always give the same ids whatever their order.
    """
    if not isinstance(min_count, int) or min_count < 1:
      raise UserError(f"min_count must be a positive integer, not {min_count!r}")
    counts = collections.Counter()
    for text in texts:
      counts.update(text)
    if not counts:
      raise UserError("cannot train a char tokenizer: the training texts are empty")
    chars = sorted((c for c, n in counts.items() if n >= min_count),
                   key=lambda c: (-counts[c], c))
    if not chars:
      raise UserError(f"min_count={min_count} leaves no characters: the most frequent one is "
                      f"seen only {max(counts.values())} times in the training texts")
    return cls(chars)

  def encode(self, text: str) -> list[int]:
    return self._vocab.encode(text, unknown="unk")

  def decode(self, ids) -> str:
    return self._vocab.decode(_checked_ids(ids, self.size))

  def piece(self, i: int) -> str:
    i = int(i)
    return SPECIALS[i] if i < len(SPECIALS) else self.chars[i - len(SPECIALS)]

  def save(self, path_prefix: str) -> None:
    data = {"kind": self.kind, "chars": list(self.chars)}
    _atomic_write(path_prefix + _SUFFIX["char"],
                  json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))

  @classmethod
  def load(cls, path_prefix: str) -> "CharTokenizer":
    path = path_prefix + _SUFFIX["char"]
    raw = _read(path)
    try:
      data = json.loads(raw.decode("utf-8"))
      chars = data["chars"]
      ok = (data["kind"] == cls.kind and isinstance(chars, list) and chars
            and all(isinstance(c, str) and len(c) == 1 for c in chars)
            and len(set(chars)) == len(chars))
    except (ValueError, KeyError, TypeError):
      ok = False
    if not ok:
      raise UserError(f"{path} is not a char tokenizer saved by s2s (corrupt or wrong kind)")
    return cls(chars)


def words(text: str) -> list[str]:
  """A caption's words as the COCO scorer sees them: PTB-tokenized, lowercased, punctuation
  dropped (s2s.caption_metrics.ptb_tokenize)."""
  from s2s import caption_metrics  # pylint: disable=import-outside-toplevel
  return caption_metrics.ptb_tokenize([text])[0].split()


class WordTokenizer:
  """One id per word (as `words` splits text) seen at least `min_count` times in training, the
  `vocab_size` - 4 most frequent at most; every other word is UNK ("<unk>" when decoded).
  Decoding joins words with single spaces, so it gives the text in the scorer's form."""

  kind = "word"

  def __init__(self, vocabulary: Sequence[str]):
    """`vocabulary` gets ids 4, 5, ... in the given order."""
    self.vocabulary = list(vocabulary)
    self._ids = {w: i + len(SPECIALS) for i, w in enumerate(self.vocabulary)}
    self.size = len(SPECIALS) + len(self.vocabulary)

  @classmethod
  def train(cls, texts: Iterable[str], vocab_size: int, min_count: int = 1) -> "WordTokenizer":
    """Ids follow decreasing frequency, ties broken alphabetically (independent of order)."""
    counts = collections.Counter()
    for text in texts:
      counts.update(words(text))
    if not counts:
      raise UserError("cannot train a word tokenizer: the training texts have no words")
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    if not kept:
      raise UserError(f"min_count={min_count} leaves no words: the most frequent one is seen "
                      f"only {max(counts.values())} times in the training texts")
    return cls(kept[:max(1, vocab_size - len(SPECIALS))])

  def encode(self, text: str) -> list[int]:
    return [self._ids.get(w, UNK) for w in words(text)]

  def decode(self, ids) -> str:
    ids = _checked_ids(ids, self.size)
    if EOS in ids:
      ids = ids[:ids.index(EOS)]
    return " ".join(self.piece(i) for i in ids if i not in (PAD, BOS))

  def piece(self, i: int) -> str:
    i = int(i)
    return SPECIALS[i] if i < len(SPECIALS) else self.vocabulary[i - len(SPECIALS)]

  def save(self, path_prefix: str) -> None:
    data = {"kind": self.kind, "words": self.vocabulary}
    _atomic_write(path_prefix + _SUFFIX["word"],
                  json.dumps(data, ensure_ascii=False, indent=0).encode("utf-8"))

  @classmethod
  def load(cls, path_prefix: str) -> "WordTokenizer":
    path = path_prefix + _SUFFIX["word"]
    raw = _read(path)
    try:
      data = json.loads(raw.decode("utf-8"))
      vocabulary = data["words"]
      ok = (data["kind"] == cls.kind and isinstance(vocabulary, list) and vocabulary
            and all(isinstance(w, str) and w and " " not in w for w in vocabulary)
            and len(set(vocabulary)) == len(vocabulary))
    except (ValueError, KeyError, TypeError):
      ok = False
    if not ok:
      raise UserError(f"{path} is not a word tokenizer saved by s2s (corrupt or wrong kind)")
    return cls(vocabulary)


class SentencePieceTokenizer:
  """Sentencepiece subwords, trained without text normalization so decode(encode(t)) == t.

  Normalization is off ("identity", extra whitespace kept) because sentencepiece's
  default NFKC would turn non-breaking spaces into spaces and collapse runs of spaces,
  so decoded text would differ from the reference. The cost: composed and decomposed
  accents ("é" vs "e" + U+0301) are different characters, as for CharTokenizer.
  UNK decodes as sentencepiece's default surface " \u2047 " (U+2047 between spaces), and
  a literal "\u2581" (U+2581) in the text decodes as a space, since sentencepiece uses it
  to mark word starts.
  """

  kind = "spm"

  def __init__(self, model_proto: bytes):
    """`model_proto` is a serialized sentencepiece model with ids 0-3 = PAD, BOS, EOS, UNK."""
    self._sp = _processor(model_proto, "the sentencepiece model")
    self.model_proto = model_proto
    self.size = self._sp.get_piece_size()

  @classmethod
  def train(cls, texts: Iterable[str], vocab_size: int,
            model_type: str = "unigram") -> "SentencePieceTokenizer":
    """Trains in memory (no files written) on `texts`.

    `vocab_size` counts the 4 specials and is an upper bound: a corpus too small to
    support it gives fewer pieces (see `size`). Training is single-threaded because
    sentencepiece's result depends on its thread count; this makes it deterministic.
    """
    texts = [t for t in texts if t]
    if not texts:
      raise UserError("cannot train a sentencepiece tokenizer: the training texts are empty")
    if not isinstance(vocab_size, int) or vocab_size <= len(SPECIALS):
      raise UserError(f"vocab_size must be an integer above {len(SPECIALS)}, not {vocab_size!r}")
    if model_type not in SPM_MODEL_TYPES:
      raise UserError(f"model_type must be one of {', '.join(SPM_MODEL_TYPES)}, "
                      f"not {model_type!r}")
    model = io.BytesIO()
    try:
      spm.SentencePieceTrainer.train(
          sentence_iterator=iter(texts), model_writer=model,
          vocab_size=vocab_size, model_type=model_type, hard_vocab_limit=False,
          pad_id=PAD, bos_id=BOS, eos_id=EOS, unk_id=UNK, character_coverage=1.0,
          normalization_rule_name="identity", remove_extra_whitespaces=False,
          # sentencepiece silently drops longer sentences (default 4192 bytes).
          max_sentence_length=max(4192, max(len(t.encode("utf-8")) for t in texts)),
          # minloglevel=2 (errors only) is process-wide in sentencepiece; a redirected
          # `logstream` would instead swallow every thread's stderr while training.
          num_threads=1, minloglevel=2)
    except RuntimeError as e:
      m = re.search(r"smaller than required_chars\. \d+ vs (\d+)", str(e))
      if not m:
        raise
      raise UserError(f"vocab_size={vocab_size} is too small for the training texts: "
                      f"sentencepiece needs at least {m.group(1)}, one id per distinct "
                      "character (the word-start marker included) plus the 4 special ids"
                      ) from None
    return cls(model.getvalue())

  def encode(self, text: str) -> list[int]:
    return self._sp.encode(text)

  def decode(self, ids) -> str:
    ids = _checked_ids(ids, self.size)
    if EOS in ids:
      ids = ids[:ids.index(EOS)]
    return self._sp.decode([i for i in ids if i not in (PAD, BOS)])

  def piece(self, i: int) -> str:
    """The piece an id stands for, word-start marker included ("\u2581le"), for display."""
    return self._sp.id_to_piece(int(i))

  def save(self, path_prefix: str) -> None:
    _atomic_write(path_prefix + _SUFFIX["spm"], self.model_proto)

  @classmethod
  def load(cls, path_prefix: str) -> "SentencePieceTokenizer":
    path = path_prefix + _SUFFIX["spm"]
    proto = _read(path)
    _processor(proto, path)  # errors name the file, not "the sentencepiece model"
    return cls(proto)


def train(kind: str, texts: list[str], *, vocab_size: int = 8000,
          min_count: int = 1) -> Tokenizer:
  """A `kind` ("char", "word" or "spm") tokenizer trained on `texts`; "char" ignores
  `vocab_size`, and only "word" reads `min_count`."""
  if kind == "char":
    return CharTokenizer.train(texts)
  if kind == "word":
    return WordTokenizer.train(texts, vocab_size, min_count)
  if kind == "spm":
    return SentencePieceTokenizer.train(texts, vocab_size)
  raise UserError(f"tokenizer kind must be one of {', '.join(KINDS)}, not {kind!r}")


def load(kind: str, path_prefix: str) -> Tokenizer:
  """The `kind` tokenizer saved at `path_prefix` (".json" or ".model" is appended)."""
  if kind == "char":
    return CharTokenizer.load(path_prefix)
  if kind == "word":
    return WordTokenizer.load(path_prefix)
  if kind == "spm":
    return SentencePieceTokenizer.load(path_prefix)
  raise UserError(f"tokenizer kind must be one of {', '.join(KINDS)}, not {kind!r}")


def _processor(model_proto: bytes, source: str) -> spm.SentencePieceProcessor:
  """A processor for `model_proto`; a bad proto raises a UserError naming `source`."""
  sp = spm.SentencePieceProcessor()
  try:
    sp.load_from_serialized_proto(model_proto)
  except RuntimeError:
    raise UserError(f"{source} is not a sentencepiece model (corrupt or wrong file)") from None
  ids = (sp.pad_id(), sp.bos_id(), sp.eos_id(), sp.unk_id())
  if ids != (PAD, BOS, EOS, UNK):
    raise UserError(f"{source} has pad, bos, eos, unk ids {ids}, but s2s needs "
                    f"{(PAD, BOS, EOS, UNK)}")
  return sp


def _checked_ids(ids, size: int) -> list[int]:
  """`ids` (list, numpy or jax 1-D int array) as a list of Python ints in [0, size)."""
  ids = np.asarray(ids)
  if ids.ndim != 1:
    raise ValueError(f"decode takes a 1-D sequence of ids, not shape {ids.shape}")
  ids = [int(i) for i in ids.tolist()]
  bad = [i for i in ids if not 0 <= i < size]
  if bad:
    raise UserError(f"id {bad[0]} is outside this tokenizer's {size} ids; was the model "
                    "trained with a different tokenizer?")
  return ids


def _read(path: str) -> bytes:
  try:
    with open(path, "rb") as f:
      return f.read()
  except OSError as e:
    raise UserError(f"cannot read the tokenizer file {path}: {e.strerror}") from None


def _atomic_write(path: str, data: bytes) -> None:
  """Writes `data` to `path` so that readers see the old file or the new one, never half."""
  directory = os.path.dirname(path) or "."
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix=os.path.basename(path) + ".", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a saved tokenizer is meant to be shared.
    os.replace(tmp, path)
  except BaseException:
    os.remove(tmp)
    raise
