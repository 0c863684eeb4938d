"""Batches: examples encoded to fixed-shape int32 arrays, shuffled and batched by grain.

An encoded example (arithmetic: query and answer; translation: source and target) is
  inputs:        int32 [query_length]   query ids (reversed if the task says so), PAD-padded
  input_lengths: int32 []               number of real query ids
  targets:       int32 [target_length]  answer ids, then EOS, PAD-padded
"""

import dataclasses

import grain
import jax
import numpy as np

from s2s import arithmetic
from s2s import vocab as vocab_lib
from s2s.errors import UserError

# How the specials show in attention plots: sentencepiece's names, as translation shows them.
_SPECIAL_PIECES = {vocab_lib.PAD: "<pad>", vocab_lib.BOS: "<s>", vocab_lib.EOS: "</s>",
                   vocab_lib.UNK: "<unk>"}


@dataclasses.dataclass(frozen=True)
class Encoder:
  """Turns (query, answer) strings into the arrays the models take."""
  vocab: vocab_lib.CharVocab
  query_length: int
  target_length: int
  reverse: bool
  task: arithmetic.ArithmeticTask | None = None  # The questions' grammar, for check_query.

  def encode_query(self, query: str) -> tuple[np.ndarray, int]:
    return _query_arrays(self.vocab.encode(query), query, self.query_length, self.reverse,
                         "characters")

  def check_query(self, query: str) -> None:
    """Raises a UserError naming `query` unless it is a question of the task (operands may
    be longer than in training, up to the query length); see arithmetic.check_question.
    Without `task`, only its characters and length are checked."""
    if self.task is not None:
      arithmetic.check_question(query, self.task, self.query_length)
    self.encode_query(query)

  def source_pieces(self, ids) -> list[str]:
    """Each id of an encoded query as its character, in the order fed (for attention plots)."""
    return [self._piece(i) for i in np.asarray(ids).tolist()]

  def target_pieces(self, ids) -> list[str]:
    """Each predicted id as its character, up to and including EOS ("</s>")."""
    ids = np.asarray(ids).tolist()
    ids = ids[:ids.index(vocab_lib.EOS) + 1] if vocab_lib.EOS in ids else ids
    return [self._piece(i) for i in ids]

  def _piece(self, i: int) -> str:
    if i < len(vocab_lib.SPECIALS):
      return _SPECIAL_PIECES[i]
    return self.vocab.chars[i - len(vocab_lib.SPECIALS)]

  def texts(self, example) -> tuple[str, str]:
    return _text(example["query"]), _text(example["answer"])

  def normalize(self, query: str) -> str:
    return "".join(query.split())  # "12 + 345" reads as "12+345".

  def decode(self, ids) -> str:
    return self.vocab.decode(ids)

  def __call__(self, example) -> dict:
    query, answer = self.texts(example)
    inputs, length = self.encode_query(query)
    targets = self.vocab.encode(answer) + [vocab_lib.EOS]
    return {"inputs": inputs, "input_lengths": np.int32(length),
            "targets": _pad(targets, self.target_length)}


@dataclasses.dataclass(frozen=True)
class TextEncoder:
  """Turns (source, target) sentences into the same arrays, through two tokenizers.

  Tokens never seen in training become UNK. Sentences longer than the lengths (the
  longest in the dataset's splits, fixed when the run started) are an error for a query
  and truncated for a target (only ever at predict time, where targets are unused).
  """
  source_tokenizer: object  # s2s.tokenizers.Tokenizer
  target_tokenizer: object
  query_length: int
  target_length: int  # Tokens + EOS.
  reverse: bool

  def encode_query(self, query: str) -> tuple[np.ndarray, int]:
    return _query_arrays(self.source_tokenizer.encode(query), query, self.query_length,
                         self.reverse, "tokens")

  @staticmethod
  def texts(example) -> tuple[str, str]:
    return _text(example["source"]), _text(example["target"])

  def normalize(self, query: str) -> str:
    return query.strip()

  def check_query(self, query: str) -> None:
    """Any sentence is a question of translation: raises a UserError only for an empty or
    too long one."""
    self.encode_query(query)

  def decode(self, ids) -> str:
    return self.target_tokenizer.decode(ids)

  def source_pieces(self, ids) -> list[str]:
    """Each id of an encoded query as its piece, in the order fed (for attention plots)."""
    return [self.source_tokenizer.piece(i) for i in np.asarray(ids).tolist()]

  def target_pieces(self, ids) -> list[str]:
    """Each predicted id as its piece, up to and including EOS."""
    ids = np.asarray(ids).tolist()
    ids = ids[:ids.index(vocab_lib.EOS) + 1] if vocab_lib.EOS in ids else ids
    return [self.target_tokenizer.piece(i) for i in ids]

  def __call__(self, example) -> dict:
    source, target = self.texts(example)
    inputs, length = self.encode_query(source)
    targets = self.target_tokenizer.encode(target)[:self.target_length - 1] + [vocab_lib.EOS]
    return {"inputs": inputs, "input_lengths": np.int32(length),
            "targets": _pad(targets, self.target_length)}


def _query_arrays(ids, query, query_length, reverse, unit):
  """Query ids -> (PAD-padded ids, reversed if asked, and their count); too long is an error."""
  if not ids:
    raise UserError("the query is empty")
  if len(ids) > query_length:
    shown = query if len(query) <= 40 else query[:40] + "..."
    raise UserError(f"the query {shown!r} has {len(ids)} {unit}, more than the {query_length} "
                    f"this model was built for")
  if reverse:
    ids = ids[::-1]
  return _pad(ids, query_length), len(ids)


def _text(x):
  return x.decode("utf-8") if isinstance(x, bytes) else x


def _pad(ids, length):
  out = np.full((length,), vocab_lib.PAD, np.int32)
  out[:len(ids)] = ids
  return out


def read_split(source, encoder: Encoder, *, process_share: bool = True) -> dict:
  """A split encoded: the arrays above, `weights` (1 for a real example), and the strings.

  With `process_share`, only this process's share (for evaluation, whose sums are added
  over processes): ceil(n / processes) rows each, the last shares padded with weight-0
  copies so that every process runs the same number of batches; `queries` and `answers`
  hold the share's real examples and `all_answers` the whole split's. Otherwise all of it
  (for training, whose batches mix examples from anywhere). Splits are read once, in bulk
  (one read of every record beats a read per example by 4x), and kept in memory.
  """
  total = len(source)
  start, stop, rows = 0, total, total
  if process_share:
    rows = -(-total // jax.process_count())
    start = min(total, jax.process_index() * rows)
    stop = min(total, start + rows)
  if not total:
    raise UserError("a split to evaluate is empty")
  records = source.__getitems__(list(range(start, stop))) if stop > start else []
  real = len(records)
  padding = source.__getitems__([0]) * (rows - real)
  examples = [encoder(r) for r in records + padding]
  arrays = {k: np.stack([ex[k] for ex in examples]) for k in examples[0]}
  arrays["weights"] = (np.arange(rows) < real).astype(np.float32)
  texts = [encoder.texts(r) for r in records]
  arrays["queries"] = [q for q, _ in texts]
  arrays["answers"] = [a for _, a in texts]
  if process_share and jax.process_count() > 1:
    arrays["all_answers"] = [encoder.texts(r)[1]
                             for r in source.__getitems__(list(range(total)))]
  else:
    arrays["all_answers"] = arrays["answers"]
  return arrays


ARRAY_KEYS = ("inputs", "input_lengths", "targets")


class _Gather(grain.transforms.Map):
  """Indices of a global batch [b] -> this process's slice of it, as arrays [b / processes]."""

  def __init__(self, arrays):
    self.arrays = {k: arrays[k] for k in ARRAY_KEYS}

  def map(self, indices):
    share = len(indices) // jax.process_count()
    mine = indices[jax.process_index() * share:(jax.process_index() + 1) * share]
    return {k: v[mine] for k, v in self.arrays.items()}


def train_iterator(arrays: dict, batch_size: int, seed: int):
  """An endless, checkpointable iterator over this process's part of each global batch.

  The sequence of global batches is a function of `seed` alone, reshuffled every
  epoch, and the same in every process; each process takes its contiguous
  `batch_size // jax.process_count()` rows of each. So N processes train on
  exactly the batches one process would. An epoch is `steps_per_epoch` batches,
  the remainder rolling over into the next epoch.
  """
  ds = (grain.MapDataset.range(len(arrays["inputs"])).seed(seed).shuffle().repeat(None)
        .batch(batch_size, drop_remainder=True).map(_Gather(arrays)))
  return iter(ds.to_iter_dataset())


def steps_per_epoch(num_train: int, batch_size: int) -> int:
  return num_train // batch_size
