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
import threading
import warnings

import grain
import jax
import numpy as np

from s2s.errors import UserError

_READ_CHUNK = 4096  # Records read at a time when a split's texts are collected.
_ENDLESS = 2**62  # Global batches a training iterator can draw.
_SMALL = 4096  # Training splits this small are shuffled by grain's C++ index by index.


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
      texts = [_text_of(task, r) for r in self.data.records[:stop - start]]
      self.data.records = None  # Only the texts are kept.
    else:
      texts = _texts(source, task, range(start, stop))
    self.queries = [q for q, _, _ in texts]
    self.answers = [a for _, a, _ in texts]
    # What a prediction of this share may equal to be right: every reference, else the answer.
    self.accepted = [r if r is not None else [a] for _, a, r in texts]
    every = texts if jax.process_count() == 1 else _texts(source, task, range(total))
    self.all_queries = [q for q, _, _ in every]
    self.all_answers = [a for _, a, _ in every]
    # What text metrics score against: every reference of an example (task.references, e.g.
    # all captions of an image), else its answer.
    self.all_references = ([r for _, _, r in every] if hasattr(task, "references")
                           else self.all_answers)

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


def _text_of(task, record):
  """(query, answer, references or None) of a record."""
  query, answer = task.texts(record)
  return query, answer, task.references(record) if hasattr(task, "references") else None


def _texts(source, task, indices):
  indices = list(indices)
  out = []
  for start in range(0, len(indices), _READ_CHUNK):
    out += [_text_of(task, r) for r in source.__getitems__(indices[start:start + _READ_CHUNK])]
  return out


_M32 = 0xFFFFFFFF


def _seed_seq(seed: int, count: int) -> list[int]:
  """`count` 32-bit words from C++'s `std::seed_seq{seed}.generate` (the algorithm the C++
  standard specifies in [rand.util.seedseq]): the round keys of grain's index shuffle."""
  n, out = count, [0x8B8B8B8B] * count
  t = 11 if n >= 623 else 7 if n >= 68 else 5 if n >= 39 else 3 if n >= 7 else (n - 1) // 2
  p, q, m = (n - t) // 2, (n - t) // 2 + t, max(2, n)

  def mix(x):
    return x ^ (x >> 27)

  for k in range(m):
    r1 = 1664525 * mix(out[k % n] ^ out[(k + p) % n] ^ out[(k - 1) % n]) & _M32
    r2 = (r1 + (1 if k == 0 else k % n + (seed & _M32) if k == 1 else k % n)) & _M32
    out[(k + p) % n] = (out[(k + p) % n] + r1) & _M32
    out[(k + q) % n] = (out[(k + q) % n] + r2) & _M32
    out[k % n] = r2
  for k in range(m, m + n):
    r3 = 1566083941 * mix((out[k % n] + out[(k + p) % n] + out[(k - 1) % n]) & _M32) & _M32
    r4 = (r3 - k % n) & _M32
    out[(k + p) % n] ^= r3
    out[(k + q) % n] ^= r4
    out[k % n] = r4
  return out


def index_shuffle(indices, max_index: int, seed: int, rounds: int = 4) -> np.ndarray:
  """grain.experimental.index_shuffle over an array of indices at once: each index's position
  in a permutation of [0, max_index], by a Simon block cipher (round keys from
  std::seed_seq{seed}) walked in cycles until it lands in range. The same numbers as grain's
  C++ function (a test compares them), thousands of times faster than calling it per index."""
  indices = np.asarray(indices, np.uint64)
  if max_index == 0:
    return np.zeros(indices.shape, np.int64)
  block = math.ceil(math.log2(max_index))
  half = max(block + block % 2, 16) // 2  # The cipher's word: half the block.
  mask, width = np.uint64((1 << half) - 1), np.uint64(half)
  keys = [np.uint64(k) & mask for k in _seed_seq(seed, rounds)]

  def rotl(x, r):
    return ((x << np.uint64(r)) | (x >> np.uint64(half - r))) & mask

  def encrypt(value):
    left, right = (value >> width) & mask, value & mask
    for i in range(0, rounds, 2):
      left = left ^ ((rotl(right, 1) & rotl(right, 8)) ^ rotl(right, 2)) ^ keys[i]
      right = right ^ ((rotl(left, 1) & rotl(left, 8)) ^ rotl(left, 2)) ^ keys[i + 1]
    return (left << width) | right

  out = indices.copy()
  todo = np.arange(out.size)
  while todo.size:  # Cycle walking: encrypt again whatever fell outside [0, max_index].
    out[todo] = encrypt(out[todo])
    todo = todo[out[todo] > np.uint64(max_index)]
  return out.astype(np.int64)


class _EpochOrders:
  """The order of [0, n) in each epoch of grain's
  `MapDataset.range(n).seed(seed).shuffle().repeat(None)`, computed a whole epoch at a time
  and kept for the epochs in use (the batch at an epoch's end reads two).

  Drawing each global batch through grain's shuffle, repeat and batch cost about 17 us per
  example (Xeon, 2026-12-05): at batch 4096 on a GPU, more than the training step itself.
  Here an epoch of 90,000 takes about 10 ms."""

  def __init__(self, n: int, seed: int):
    self.n = n
    self._shuffled = grain.MapDataset.range(n).seed(seed).shuffle().repeat(None)
    # The seed grain derives for its shuffle (epoch e uses it + e). Checked against grain's
    # own order; should a grain release derive it otherwise, grain computes every epoch.
    self._seed = getattr(getattr(self._shuffled, "_parent", None), "_seed", None)
    self._orders = {}
    if self._seed is not None:
      self._orders[0] = self._order(0)
      if self._grain_order(range(min(n, 16))).tolist() != self._orders[0][:16].tolist():
        self._seed, self._orders = None, {}
    if self._seed is None:
      warnings.warn(f"grain {getattr(grain, '__version__', '?')} shuffles with a seed s2s cannot "
                    "read: each epoch's order is drawn from grain one example at a time (the "
                    "same batches, about 17 us per example slower)", stacklevel=2)
    self._lock = threading.Lock()  # grain's prefetch threads ask concurrently.

  def _grain_order(self, positions) -> np.ndarray:
    return np.asarray([self._shuffled[p] for p in positions], np.int64)

  def _order(self, epoch: int) -> np.ndarray:
    if self._seed is None:
      return self._grain_order(range(epoch * self.n, (epoch + 1) * self.n))
    seed = (self._seed + epoch) % 2**32
    if self.n <= _SMALL:  # The cipher's block has at least 16 bits: a small n walks long cycles.
      return np.asarray([grain.experimental.index_shuffle(i, max_index=self.n - 1, seed=seed,
                                                          rounds=4) for i in range(self.n)])
    return index_shuffle(np.arange(self.n), self.n - 1, seed)

  def __call__(self, epoch: int) -> np.ndarray:
    with self._lock:
      if epoch not in self._orders:
        self._orders = {e: o for e, o in self._orders.items() if abs(e - epoch) <= 2}
        self._orders[epoch] = self._order(epoch)
      return self._orders[epoch]


class _GlobalBatch(grain.transforms.Map):
  """Global batch i -> this process's slice of it, as arrays [b / processes]: the examples at
  positions [i b, (i + 1) b) of the endless shuffled stream, an epoch's end rolling over into
  the next epoch's start."""

  def __init__(self, data, batch_size: int, seed: int):
    self.data, self.batch_size = data, batch_size
    self.orders = _EpochOrders(len(data), seed)

  def map(self, i):
    n, b = self.orders.n, self.batch_size
    share = b // jax.process_count()
    start = i * b + jax.process_index() * share
    stop = start + share
    rows = [self.orders(e)[max(start - e * n, 0):stop - e * n]
            for e in range(start // n, (stop - 1) // n + 1)]
    return self.data.take(np.concatenate(rows) if len(rows) > 1 else rows[0])


_READ_OPTIONS = grain.ReadOptions(num_threads=2, prefetch_buffer_size=16)


def train_iterator(data, batch_size: int, seed: int):
  """An endless, checkpointable iterator over this process's part of each global batch of
  `data` (an Encoded or Streamed training split).

  The sequence of global batches is a function of `seed` alone, reshuffled every
  epoch, and the same in every process; each process takes its contiguous
  `batch_size // jax.process_count()` rows of each. So N processes train on
  exactly the batches one process would. An epoch is `steps_per_epoch` batches,
  the remainder rolling over into the next epoch.

  The order is grain's `MapDataset.range(len(data)).seed(seed).shuffle().repeat(None)
  .batch(batch_size, drop_remainder=True)`, gathered a batch at a time (`_GlobalBatch`); the
  iterator's state is the next global batch's number.
  """
  batches = grain.MapDataset.range(_ENDLESS).map(_GlobalBatch(data, batch_size, seed))
  # A few batches ahead on two threads keep up with any step (a batch is a gather of rows held
  # in memory). grain's default, 500 batches on 16 threads, holds 500 batches (about 1 GB of
  # translation at batch 4096) and, on a small split, has its threads draw the orders of
  # epochs hundreds ahead of the one in use.
  return iter(batches.to_iter_dataset(_READ_OPTIONS))


def cut_buckets(lengths: dict, num_buckets: int, min_size: int) -> list:
  """Example indices of each length bucket: the examples sorted by their total length
  (`lengths`: {batch key: int [N]}), cut into at most `num_buckets` runs of at least
  `min_size` examples so that the positions computed, sum over buckets of size x (sum over
  keys of the bucket's longest), are fewest. Examples of equal total length stay together.

  Dynamic programming over the distinct totals: a long tail of long examples gets a small
  bucket of its own instead of setting the shape of a quarter of the data.
  """
  keys = list(lengths)
  columns = [np.asarray(lengths[k], np.int64) for k in keys]
  total = sum(columns)
  order = np.lexsort(tuple(reversed(columns)) + (total,))
  values, starts = np.unique(total[order], return_index=True)
  ends = np.append(starts[1:], len(order))
  group_max = np.array([[c[order[a:b]].max() for c in columns] for a, b in zip(starts, ends)])
  g = len(values)
  # cost[a][b]: positions of one bucket holding groups a..b-1 (inf when under min_size).
  cost = np.full((g + 1, g + 1), np.inf)
  for a in range(g):
    longest = np.zeros(len(keys), np.int64)
    for b in range(a + 1, g + 1):
      longest = np.maximum(longest, group_max[b - 1])
      size = ends[b - 1] - starts[a]
      if size >= min_size:
        cost[a, b] = size * longest.sum()
  if not np.isfinite(cost[0, g]):
    return [order]  # Fewer than min_size examples: one bucket.
  best = cost[0].copy()  # best[b]: fewest positions for groups 0..b-1 in the buckets so far.
  cuts = [np.zeros(g + 1, np.int64)]
  for _ in range(1, num_buckets):
    options = best[:, None] + cost  # [a, b]: groups 0..a-1 as before, a..b-1 one more bucket.
    previous = np.argmin(options, axis=0)
    improved = options[previous, np.arange(g + 1)] < best
    cuts.append(np.where(improved, previous, -1))
    best = np.where(improved, options[previous, np.arange(g + 1)], best)
  bounds, b = [g], g
  for back in reversed(cuts[1:]):
    if back[b] >= 0:
      b = int(back[b])
      bounds.append(b)
  bounds.append(0)
  bounds = sorted(set(bounds))
  return [order[starts[a]:ends[b - 1]] for a, b in zip(bounds[:-1], bounds[1:])]


class Bucketed:
  """An endless, checkpointable iterator over this process's part of each global batch, each
  batch drawn from one length bucket and cut to the longest of its bucket (not of the dataset).

  The training examples (`lengths`: {batch key: int [N]}, e.g. {"inputs": query ids,
  "targets": answer ids + EOS}) are cut into at most `num_buckets` buckets by `cut_buckets`,
  which computes the fewest positions; a bucket's shape is its longest example's, so a run
  compiles one train step per bucket. Each epoch shuffles each bucket (seeded by `seed` and
  the epoch), cuts it into batches (a bucket's last partial batch waits for another epoch's
  shuffle) and shuffles the order of all the epoch's batches, so that batches of every length
  are interleaved. The order does not depend on steps_per_dispatch: `take_group(k)` returns
  the next batches up to k while they are of one bucket (one device call trains them), never
  reordering. The state is (epoch, position): a resumed run draws the same batches.
  """

  def __init__(self, data, lengths: dict, num_buckets: int, batch_size: int, seed: int):
    keys = list(lengths)
    self.buckets = cut_buckets(lengths, num_buckets, batch_size)
    # The loss's token count (train.train_step): the same for every batch, whatever its bucket.
    self.mean_tokens = float(np.mean(lengths["targets"])) if "targets" in lengths else None
    self.shapes = [{k: int(np.max(np.asarray(lengths[k])[b])) for k in keys}
                   for b in self.buckets]
    self.data, self.batch_size, self.seed = data, batch_size, seed
    self.epoch, self.position, self._plan = 0, 0, None

  def _batches(self, epoch: int):
    """[(bucket, global batch indices)] of an epoch, in order."""
    rng = np.random.default_rng([self.seed, epoch])
    batches = []
    for bucket, indices in enumerate(self.buckets):
      indices = rng.permutation(indices)
      n = len(indices) // self.batch_size
      batches += [(bucket, row) for row in indices[:n * self.batch_size].reshape(n, -1)]
    return [batches[i] for i in rng.permutation(len(batches))]

  def _peek(self):
    if self._plan is None or self._plan[0] != self.epoch:
      self._plan = (self.epoch, self._batches(self.epoch))
    return self._plan[1][self.position]

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    bucket, indices = self._peek()
    self.position += 1
    if self.position == len(self._plan[1]):
      self.epoch, self.position = self.epoch + 1, 0
    share = len(indices) // jax.process_count()
    batch = self.data.take(indices[jax.process_index() * share:(jax.process_index() + 1) * share])
    for key, length in self.shapes[bucket].items():
      batch[key] = batch[key][:, :length]
    if self.mean_tokens is not None:
      batch["loss_tokens"] = np.full(len(batch["targets"]), self.mean_tokens, np.float32)
    return batch

  def take_group(self, k: int) -> list:
    """The next batches, up to k of them, all of one bucket (one shape)."""
    bucket = self._peek()[0]
    out = [next(self)]
    while len(out) < k and self._peek()[0] == bucket:
      out.append(next(self))
    return out

  def get_state(self) -> dict:
    return {"epoch": self.epoch, "position": self.position}

  def set_state(self, state: dict):
    self.epoch, self.position = int(state["epoch"]), int(state["position"])


def training_batches(data, task, config):
  """The run's training batches over `data` (an Encoded or Streamed training split): by
  length bucket if config.length_buckets (an in-memory split of a task with
  `sequence_lengths`), else shuffled batches of the whole split (train_iterator)."""
  buckets = config.length_buckets
  if not buckets:
    return train_iterator(data, config.batch_size, config.seed)
  if not hasattr(task, "sequence_lengths"):
    raise UserError(f"config.length_buckets={buckets}: this task's examples have no sequence "
                    f"lengths to bucket by; set it to 0")
  if not isinstance(data, Encoded):
    raise UserError(f"config.length_buckets={buckets} needs the training split in memory; "
                    f"raise config.data_memory_mb or set config.length_buckets=0")
  return Bucketed(data, task.sequence_lengths(data.arrays), buckets, config.batch_size,
                  config.seed)


def steps_per_epoch(num_train: int, batch_size: int) -> int:
  return num_train // batch_size


def shard(batch):
  """[B, ...] host arrays -> [local devices, B / local devices, ...]."""
  n = jax.local_device_count()
  return jax.tree.map(lambda x: x.reshape((n, x.shape[0] // n) + x.shape[1:]), batch)
