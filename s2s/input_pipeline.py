"""Batches: a split's records turned into the model's arrays by the task, shuffled and batched.

`task.encode(record)` gives one example's arrays (the task's input keys and `targets`). A
split is held one of two ways, which give the same batches:

  in memory (`Encoded`): every record read once in bulk and encoded, kept as arrays; a
    batch gathers rows. The fast path, for splits whose arrays fit `config.data_memory_mb`.
  streamed (`Streamed`): a batch's records are read and encoded when the batch is drawn,
    so a split of images or audio features larger than memory trains and evaluates.

Training draws global batches of record indices with grain (checkpointable: its state is
a position, whatever holds the arrays); evaluation walks a `Split`, this process's share of
a split, in padded batches with `weights` (1 for a real example, 0 for padding).
"""

import math

import grain
import jax
import numpy as np

from s2s.errors import UserError

_READ_CHUNK = 4096  # Records read at a time when a split's texts are collected.


def example_bytes(task) -> int:
  """Bytes of one encoded example: the task's inputs and int32 targets."""
  inputs = sum(math.prod(shape) * np.dtype(dtype).itemsize
               for shape, dtype in task.input_spec.values())
  return inputs + 4 * task.target_length


def _stack(examples) -> dict:
  return {k: np.stack([ex[k] for ex in examples]) for k in examples[0]}


class Encoded:
  """The records at `indices` of `source`, encoded once and kept: take(rows) gathers them.
  `records` are the records read (a split's texts come from them, not from a second read)."""

  def __init__(self, source, task, indices):
    self.records = source.__getitems__(list(indices))
    self.arrays = _stack([task.encode(r) for r in self.records])

  def __len__(self):
    return len(next(iter(self.arrays.values())))

  def take(self, rows) -> dict:
    return {k: v[rows] for k, v in self.arrays.items()}


class Streamed:
  """The records at `indices` of `source`, read and encoded only when taken."""

  def __init__(self, source, task, indices):
    self.source, self.task, self.indices = source, task, np.asarray(indices, np.int64)

  def __len__(self):
    return len(self.indices)

  def take(self, rows) -> dict:
    records = self.source.__getitems__(self.indices[np.asarray(rows)].tolist())
    return _stack([self.task.encode(r) for r in records])


def hold(source, task, indices, memory_mb: float, keep_records: bool = False):
  """`Encoded` if the examples' arrays fit in `memory_mb` (with the records read, if
  `keep_records`), else `Streamed`."""
  if len(indices) * example_bytes(task) <= memory_mb * 2**20:
    data = Encoded(source, task, indices)
    if not keep_records:
      data.records = None
    return data
  return Streamed(source, task, indices)


class Split:
  """This process's share of a split, to evaluate: ceil(n / processes) rows per process, the
  last shares padded with weight-0 copies of record 0, so every process runs the same number
  of batches. `queries` and `answers` are the share's real examples' texts (task.texts),
  `all_queries` and `all_answers` the whole split's (every process scores text metrics and
  slices on the whole split)."""

  def __init__(self, source, task, memory_mb: float):
    total = len(source)
    if not total:
      raise UserError("a split to evaluate is empty")
    rows = -(-total // jax.process_count())
    start = min(total, jax.process_index() * rows)
    stop = min(total, start + rows)
    self.size = rows
    self.weights = (np.arange(rows) < stop - start).astype(np.float32)
    self.data = hold(source, task, list(range(start, stop)) + [0] * (rows - (stop - start)),
                     memory_mb, keep_records=True)
    if isinstance(self.data, Encoded):
      texts = [task.texts(r) for r in self.data.records[:stop - start]]
      self.data.records = None  # Only the texts are kept.
    else:
      texts = _texts(source, task, range(start, stop))
    self.queries = [q for q, _ in texts]
    self.answers = [a for _, a in texts]
    every = texts if jax.process_count() == 1 else _texts(source, task, range(total))
    self.all_queries = [q for q, _ in every]
    self.all_answers = [a for _, a in every]

  def take(self, rows) -> dict:
    """The arrays of rows of this share (weights included)."""
    return self.data.take(rows) | {"weights": self.weights[rows]}

  def batches(self, batch_size: int):
    """This share in batches of `batch_size` rows, the last padded with weight-0 rows."""
    for start in range(0, self.size, batch_size):
      rows = np.arange(start, start + batch_size)
      real = rows < self.size
      batch = self.take(np.where(real, rows, 0))
      batch["weights"] = batch["weights"] * real
      yield batch


class Records:
  """Records held in a list, read as a TFDS source is (a task's final checks)."""

  def __init__(self, records: list):
    self.records = records

  def __len__(self):
    return len(self.records)

  def __getitems__(self, indices):
    return [self.records[i] for i in indices]


def _texts(source, task, indices):
  indices = list(indices)
  out = []
  for start in range(0, len(indices), _READ_CHUNK):
    out += [task.texts(r) for r in source.__getitems__(indices[start:start + _READ_CHUNK])]
  return out


class _Gather(grain.transforms.Map):
  """Indices of a global batch [b] -> this process's slice of it, as arrays [b / processes]."""

  def __init__(self, data):
    self.data = data

  def map(self, indices):
    share = len(indices) // jax.process_count()
    return self.data.take(indices[jax.process_index() * share:(jax.process_index() + 1) * share])


def train_iterator(data, batch_size: int, seed: int):
  """An endless, checkpointable iterator over this process's part of each global batch of
  `data` (an Encoded or Streamed training split).

  The sequence of global batches is a function of `seed` alone, reshuffled every
  epoch, and the same in every process; each process takes its contiguous
  `batch_size // jax.process_count()` rows of each. So N processes train on
  exactly the batches one process would. An epoch is `steps_per_epoch` batches,
  the remainder rolling over into the next epoch.
  """
  ds = (grain.MapDataset.range(len(data)).seed(seed).shuffle().repeat(None)
        .batch(batch_size, drop_remainder=True).map(_Gather(data)))
  return iter(ds.to_iter_dataset())


def steps_per_epoch(num_train: int, batch_size: int) -> int:
  return num_train // batch_size


def shard(batch):
  """[B, ...] host arrays -> [local devices, B / local devices, ...]."""
  n = jax.local_device_count()
  return jax.tree.map(lambda x: x.reshape((n, x.shape[0] // n) + x.shape[1:]), batch)
