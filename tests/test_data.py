"""The TFDS dataset and the grain input pipeline."""

import glob
import os
import subprocess
import sys

import flax.jax_utils
import grain
import jax
import numpy as np
import pytest

from s2s import arithmetic
from s2s import config as config_lib
from s2s import dataset
from s2s import evaluation
from s2s import input_pipeline
from s2s import tasks
from s2s import train
from s2s import vocab as vocab_lib
from s2s.tasks import arithmetic as arithmetic_task
from conftest import ROOT, popen


def task_config(**overrides):
  config = config_lib.base_config().task
  config.digits, config.ops, config.num_examples, config.num_test = 2, "+-", 1000, 200
  config.num_length_generalization = 50
  config.update(overrides)
  return config


def test_prepared_as_array_record_and_read_without_tensorflow(data_dir):
  code = f"""
import sys, ml_collections
from s2s import dataset
sources = dataset.load(ml_collections.ConfigDict({task_config().to_dict()!r}), {data_dir!r})
print({{k: len(v) for k, v in sources.items()}}, sources["test"][0]["query"])
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
"""
  result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
  assert "{'train': 900, 'validation': 100, 'test': 200, 'length_generalization': 50}" in (
      result.stdout)
  name = arithmetic_task.builder(task_config()).builder_config.name
  assert name == "d2_addsub_t2_n1000_v0.1_test200_lg50x3_s0"
  files = glob.glob(os.path.join(data_dir, "arithmetic", name, "*", "*.array_record*"))
  assert {os.path.basename(f).split(".")[0] for f in files} == {
      "arithmetic-train", "arithmetic-validation", "arithmetic-test",
      "arithmetic-length_generalization"}


def test_splits_are_disjoint_questions_with_right_answers(data_dir):
  sources = dataset.load(task_config(), data_dir)
  keys = {}
  for split, source in sources.items():
    pairs = [(r["query"].decode(), r["answer"].decode()) for r in source]
    for query, answer in pairs:
      assert int(answer) == eval(query)  # pylint: disable=eval-used
    keys[split] = {arithmetic.canonical(arithmetic.parse(q)) for q, _ in pairs}
    assert len(keys[split]) == len(pairs)  # No duplicates within a split either.
  names = list(keys)
  for i, a in enumerate(names):
    for b in names[i + 1:]:
      assert not keys[a] & keys[b], (a, b)


def test_different_task_seed_gives_different_questions(data_dir):
  a = dataset.load(task_config(), data_dir)["train"]
  b = dataset.load(task_config(seed=1), data_dir)["train"]
  assert sorted(r["query"] for r in a) != sorted(r["query"] for r in b)


MEMORY_MB = 64.0  # Every split here fits: held in memory (Encoded).


def make_task(reverse=True):
  grammar = arithmetic.ArithmeticTask(digits=2, ops="+-")
  vocab = vocab_lib.CharVocab(grammar.chars)
  return arithmetic_task.Task(vocab, vocab, grammar.max_query_length(3),
                              grammar.max_answer_length(3) + 1, reverse)


def hold_all(source, task, memory_mb=MEMORY_MB):
  return input_pipeline.hold(source, task, range(len(source)), memory_mb)


def test_encoder_reverses_pads_and_appends_eos():
  task = make_task()
  example = task.encode({"query": b"12-345", "answer": b"-333"})
  vocab = task.source
  n = int(example["input_lengths"])
  assert n == 6
  assert vocab.decode(example["inputs"][:n]) == "543-21"
  assert (example["inputs"][n:] == vocab_lib.PAD).all()
  assert vocab.decode(example["targets"]) == "-333"
  assert example["targets"][4] == vocab_lib.EOS and (example["targets"][5:] == vocab_lib.PAD).all()
  plain = make_task(reverse=False).encode({"query": b"12-345", "answer": b"-333"})
  assert vocab.decode(plain["inputs"]) == "12-345"


def batches(iterator, n):
  return [next(iterator) for _ in range(n)]


def test_train_order_is_deterministic_reshuffled_and_resumable(data_dir):
  source = dataset.load(task_config(), data_dir)["train"]
  data = hold_all(source, make_task())
  assert isinstance(data, input_pipeline.Encoded)
  steps = input_pipeline.steps_per_epoch(900, 100)
  assert steps == 9
  first = batches(input_pipeline.train_iterator(data, 100, seed=0), 2 * steps)
  again = batches(input_pipeline.train_iterator(data, 100, seed=0), 2 * steps)
  other = batches(input_pipeline.train_iterator(data, 100, seed=1), 1)
  for a, b in zip(first, again):
    np.testing.assert_array_equal(a["inputs"], b["inputs"])
  assert not np.array_equal(first[0]["inputs"], other[0]["inputs"])
  # An epoch sees every training example once; the next epoch in another order.
  rows = lambda bs: sorted(map(bytes, np.concatenate([b["inputs"] for b in bs])))
  assert rows(first[:steps]) == sorted(map(bytes, data.take(np.arange(900))["inputs"]))
  assert not np.array_equal(first[0]["inputs"], first[steps]["inputs"])
  # A split too large for memory is streamed, in the same batches.
  streamed = hold_all(source, make_task(), memory_mb=0)
  assert isinstance(streamed, input_pipeline.Streamed)
  for a, b in zip(first[:3], batches(input_pipeline.train_iterator(streamed, 100, seed=0), 3)):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])
  # A restored iterator state continues exactly.
  iterator = input_pipeline.train_iterator(data, 100, seed=0)
  batches(iterator, 5)
  state = iterator.get_state()
  resumed = input_pipeline.train_iterator(data, 100, seed=0)
  resumed.set_state(state)
  for a, b in zip(batches(iterator, 7), batches(resumed, 7)):
    np.testing.assert_array_equal(a["targets"], b["targets"])


class Rows:
  """A split held in memory whose example i is i: a batch shows the order itself."""

  def __init__(self, n):
    self.arrays = {"row": np.arange(n)}

  def __len__(self):
    return len(self.arrays["row"])

  def take(self, rows):
    return {"row": self.arrays["row"][rows]}


def grain_batches(data, batch_size, seed):
  """The training order as grain computes it, a batch at a time through its shuffle (read
  without prefetching: the same batches and the same iterator state as with grain's default
  prefetch, which on these small splits keeps 16 threads drawing far ahead)."""
  ds = (grain.MapDataset.range(len(data)).seed(seed).shuffle().repeat(None)
        .batch(batch_size, drop_remainder=True).map(data.take))
  return iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0)))


@pytest.mark.parametrize("n,batch_size,seed", [(900, 100, 0), (1000, 7, 3), (37, 50, 2),
                                               (1, 3, 0), (5000, 64, 1), (65537, 4096, 5)])
def test_training_order_is_grain_s_shuffle_and_resumes_from_its_state(n, batch_size, seed):
  """Whole epochs of indices at once (the fast path) give grain's order exactly: batches that
  straddle epochs (even three), and an iterator restored from a state grain's own pipeline
  saved (checkpoints written before the fast path) goes on with the same batches."""
  steps = max(40, 3 * n // batch_size)
  ours = input_pipeline.train_iterator(Rows(n), batch_size, seed)
  theirs = grain_batches(Rows(n), batch_size, seed)
  for _ in range(steps):
    np.testing.assert_array_equal(next(ours)["row"], next(theirs)["row"])
  resumed = input_pipeline.train_iterator(Rows(n), batch_size, seed)
  resumed.set_state(theirs.get_state())
  assert resumed.get_state() == ours.get_state() == {"next_index": steps}
  for _ in range(5):
    np.testing.assert_array_equal(next(resumed)["row"], next(theirs)["row"])


@pytest.mark.parametrize("max_index", [0, 1, 2, 256, 65535, 65536, 65537, 89999, 2**20 + 3])
def test_index_shuffle_is_grain_s(max_index):
  """The vectorised cipher against grain's C++ index_shuffle, index by index: word sizes
  8 to 11 bits, powers of two (where grain's block is one bit short) and cycle walking."""
  rng = np.random.default_rng(max_index)
  indices = np.unique(np.concatenate([np.arange(min(max_index + 1, 500)),
                                      rng.integers(0, max_index + 1, 500)]))
  for seed in (0, 1, 457190280, 2**32 - 1):
    expected = [grain.experimental.index_shuffle(int(i), max_index=max_index, seed=seed,
                                                 rounds=4) for i in indices]
    assert input_pipeline.index_shuffle(indices, max_index, seed).tolist() == expected


def test_training_order_falls_back_to_grain_when_its_seed_cannot_be_read(monkeypatch):
  """Should a grain release derive its shuffle's seed otherwise, every epoch comes from grain
  itself: slower, the same order."""
  n = 5000  # Above input_pipeline._SMALL: the vectorised cipher.
  fast = input_pipeline._EpochOrders(n, 7)  # pylint: disable=protected-access
  orders = [fast(epoch) for epoch in (0, 1, 5)]
  monkeypatch.setattr(input_pipeline, "index_shuffle", lambda *args: np.arange(n))
  with pytest.warns(UserWarning, match="one example at a time"):
    slow = input_pipeline._EpochOrders(n, 7)  # pylint: disable=protected-access
  assert fast._seed is not None and slow._seed is None  # pylint: disable=protected-access
  for epoch, order in zip((0, 1, 5), orders):
    np.testing.assert_array_equal(slow(epoch), order)
  assert sorted(orders[1].tolist()) == list(range(n))


def test_processes_share_each_global_batch_and_split_evaluation(data_dir, monkeypatch):
  source = dataset.load(task_config(), data_dir)["train"]
  task = make_task()
  data = hold_all(source, task)
  whole = input_pipeline.Split(source, task, MEMORY_MB)  # One process: the whole split.
  global_batches = batches(input_pipeline.train_iterator(data, 30, 0), 3)
  parts, shares = [], []
  for index in range(3):
    monkeypatch.setattr(jax, "process_count", lambda: 3)
    monkeypatch.setattr(jax, "process_index", lambda index=index: index)
    parts.append(batches(input_pipeline.train_iterator(data, 30, 0), 3))
    shares.append(set(input_pipeline.Split(source, task, MEMORY_MB).queries))
  # Each process trains on its 10 rows of each global batch of 30, in order.
  for step, batch in enumerate(global_batches):
    for key in batch:
      np.testing.assert_array_equal(
          np.concatenate([p[step][key] for p in parts]), batch[key])
  # For evaluation each process reads a disjoint third of the split.
  assert [len(s) for s in shares] == [300, 300, 300]
  assert not (shares[0] & shares[1] or shares[1] & shares[2] or shares[0] & shares[2])
  # 900 over 7 processes: 129 rows each, every process the same number, the 3 rows beyond
  # the split padding with weight 0; together the real rows are the split, once each.
  real = []
  for index in range(7):
    monkeypatch.setattr(jax, "process_count", lambda: 7)
    monkeypatch.setattr(jax, "process_index", lambda index=index: index)
    share = input_pipeline.Split(source, task, MEMORY_MB)
    assert share.size == len(share.data) == len(share.weights) == 129
    assert share.weights.sum() == len(share.queries) == (129 if index < 6 else 126)
    assert share.all_answers == whole.answers
    real += share.queries
  assert real == whole.queries


def test_eval_pads_the_last_batch_without_counting_it(data_dir):
  """Evaluation over 100 examples in batches of 64 counts exactly 100 examples."""
  config = config_lib.base_config()
  config.task.update(task_config())
  config.model.hidden_size = 8
  task, model = tasks.build(config)
  state = train.init_state(config, model, task, train.make_optimizer(config, 10))
  split = input_pipeline.Split(dataset.load(config.task, data_dir)["validation"], task,
                               config.data_memory_mb)
  p_eval = jax.pmap(lambda p, b: train.eval_step(p, b, model=model), axis_name=train.AXIS)
  params = flax.jax_utils.replicate(state.params)
  evaluate = lambda batch_size: evaluation.evaluate(
      p_eval_step=p_eval, params=params, split=split, eval_batch_size=batch_size)
  metrics, predictions = evaluate(64)
  assert predictions.shape == (100, task.target_length)
  full, _ = evaluate(100)
  assert metrics == pytest.approx(full)


def test_processes_preparing_one_dataset_at_once_all_get_it(tmp_path):
  """Concurrent runs (or the processes of one run) may all find the dataset missing."""
  code = f"""
import ml_collections
from s2s import dataset
sources = dataset.load(ml_collections.ConfigDict({task_config(num_examples=3000).to_dict()!r}),
                       {str(tmp_path)!r})
print(sorted(r["query"].decode() for r in sources["test"])[:5])
"""
  processes = [popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, text=True) for _ in range(3)]
  outputs = [p.communicate(timeout=300) for p in processes]
  for p, (_, err) in zip(processes, outputs):
    assert p.returncode == 0, err
  assert len({out.splitlines()[-1] for out, _ in outputs}) == 1  # The same questions for all.
