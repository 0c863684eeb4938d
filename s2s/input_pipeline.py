"""Batches: examples encoded to fixed-shape int32 arrays, shuffled and batched by grain.

An encoded example is
  inputs:        int32 [query_length]   query ids (reversed if the task says so), PAD-padded
  input_lengths: int32 []               number of real query ids
  targets:       int32 [target_length]  answer ids, then EOS, PAD-padded
"""

import dataclasses

import grain
import jax
import numpy as np

from s2s import vocab as vocab_lib
from s2s.errors import UserError


@dataclasses.dataclass(frozen=True)
class Encoder:
  """Turns (query, answer) strings into the arrays the models take."""
  vocab: vocab_lib.CharVocab
  query_length: int
  target_length: int
  reverse: bool

  def encode_query(self, query: str) -> tuple[np.ndarray, int]:
    ids = self.vocab.encode(query)
    if not ids:
      raise UserError("the query is empty")
    if len(ids) > self.query_length:
      raise UserError(
          f"the query {query!r} has {len(ids)} characters, more than the {self.query_length} "
          f"this model was built for")
    if self.reverse:
      ids = ids[::-1]
    return _pad(ids, self.query_length), len(ids)

  def __call__(self, example) -> dict:
    query, answer = (_text(example["query"]), _text(example["answer"]))
    inputs, length = self.encode_query(query)
    targets = self.vocab.encode(answer) + [vocab_lib.EOS]
    return {"inputs": inputs, "input_lengths": np.int32(length),
            "targets": _pad(targets, self.target_length)}


def _text(x):
  return x.decode("utf-8") if isinstance(x, bytes) else x


def _pad(ids, length):
  out = np.full((length,), vocab_lib.PAD, np.int32)
  out[:len(ids)] = ids
  return out


def read_split(source, encoder: Encoder, *, process_share: bool = True) -> dict:
  """A split encoded: the arrays above plus the strings.

  With `process_share`, only this process's equal share (for evaluation, whose
  sums are added over processes); otherwise all of it (for training, whose
  batches mix examples from anywhere). Splits are read once, in bulk (one read
  of every record beats a read per example by 4x), and kept in memory.
  """
  n, start = len(source), 0
  if process_share:
    n = len(source) // jax.process_count()
    start = jax.process_index() * n
  records = source.__getitems__(list(range(start, start + n))) if n else []
  examples = [encoder(r) for r in records]
  if not examples:
    raise UserError(f"a split of {len(source)} examples leaves none for each of "
                    f"{jax.process_count()} processes")
  arrays = {k: np.stack([ex[k] for ex in examples]) for k in examples[0]}
  arrays["queries"] = [_text(r["query"]) for r in records]
  arrays["answers"] = [_text(r["answer"]) for r in records]
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
