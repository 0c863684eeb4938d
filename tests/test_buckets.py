"""Length buckets (config.length_buckets): a batch cut to its bucket's longest example trains
on the same losses as the batch padded to the dataset's longest; the order is deterministic,
resumable, and draws each example at most once an epoch."""

import collections
import functools
import itertools
import os
import sys

import flax.jax_utils
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from s2s import config as config_lib
from s2s import input_pipeline
from s2s import metrics as metrics_lib
from s2s import models
from s2s import train
from s2s.vocab import EOS, PAD

from conftest import (ROOT, assert_user_error, final_params, read_metrics, resume_after, run,
                      train_cli, train_on_devices)

V = 12


class _Data:
  """Arrays held as Encoded holds them."""

  def __init__(self, arrays):
    self.arrays = arrays

  def take(self, rows):
    return {k: v[rows] for k, v in self.arrays.items()}


def examples(n=200, max_source=12, max_target=9, seed=0):
  rng = np.random.default_rng(seed)
  sources = rng.integers(1, max_source + 1, n)
  targets = rng.integers(1, max_target, n)  # Answer tokens; + EOS.
  inputs = np.full((n, max_source), PAD, np.int32)
  answers = np.full((n, max_target), PAD, np.int32)
  for i in range(n):
    inputs[i, :sources[i]] = rng.integers(4, V, sources[i])
    answers[i, :targets[i]] = rng.integers(4, V, targets[i])
    answers[i, targets[i]] = EOS
  return {"inputs": inputs, "input_lengths": sources.astype(np.int32), "targets": answers,
          "row": np.arange(n)}


def bucketed(arrays, buckets=4, batch_size=10, seed=0):
  lengths = {"inputs": arrays["input_lengths"],
             "targets": np.sum(arrays["targets"] != PAD, axis=1)}
  return input_pipeline.Bucketed(_Data(arrays), lengths, buckets, batch_size, seed)


def test_batches_come_from_one_bucket_cut_to_its_longest_and_lose_only_padding():
  arrays = examples()
  it = bucketed(arrays)
  shapes = collections.Counter()
  seen = []
  per_epoch = sum(len(b) // 10 for b in it.buckets)
  for _ in range(per_epoch):
    batch = next(it)
    rows = batch["row"]
    shapes[batch["inputs"].shape[1], batch["targets"].shape[1]] += 1
    # Cut only padding: every cut-off position of these rows is PAD.
    assert (arrays["inputs"][rows, batch["inputs"].shape[1]:] == PAD).all()
    assert (arrays["targets"][rows, batch["targets"].shape[1]:] == PAD).all()
    np.testing.assert_array_equal(batch["inputs"],
                                  arrays["inputs"][rows, :batch["inputs"].shape[1]])
    seen += rows.tolist()
  assert len(shapes) == 4  # One shape per bucket.
  assert len(seen) == len(set(seen)) == per_epoch * 10  # No example twice in an epoch.
  assert it.get_state() == {"epoch": 1, "position": 0}
  # The buckets are cut by length: the shortest bucket's inputs are shorter than the longest's.
  assert max(s[0] for s in shapes) > min(s[0] for s in shapes)


def positions(lengths, buckets):
  """What a bucketing computes: each bucket's size times its longest example, per key."""
  return sum(len(b) * sum(int(np.max(lengths[k][b])) for k in lengths) for b in buckets)


def test_buckets_are_cut_where_the_fewest_positions_are_computed():
  # Every cut of 40 examples into at most 3 runs of >= 4 (sorted by total length, equal totals
  # together) is tried: none computes fewer positions.
  rng = np.random.default_rng(0)
  lengths = {"inputs": rng.integers(1, 9, 40), "targets": rng.integers(1, 6, 40)}
  buckets = input_pipeline.cut_buckets(lengths, 3, 4)
  assert sorted(np.concatenate(buckets).tolist()) == list(range(40))
  assert len(buckets) <= 3 and min(len(b) for b in buckets) >= 4
  total = lengths["inputs"] + lengths["targets"]
  order = np.lexsort((lengths["targets"], lengths["inputs"], total))
  starts = np.unique(total[order], return_index=True)[1]
  cuts = [c for k in range(3) for c in itertools.combinations(starts[1:], k)]
  options = [[order[a:b] for a, b in zip((0,) + c, c + (40,))] for c in cuts]
  fewest = min(positions(lengths, o) for o in options if min(len(b) for b in o) >= 4)
  assert positions(lengths, buckets) == fewest


def test_a_long_tail_gets_a_bucket_of_its_own():
  # 990 short sentences and 10 long ones: equal quarters would pad 250 examples to 60 tokens.
  lengths = {"inputs": np.array([5] * 990 + [60] * 10), "targets": np.array([6] * 1000)}
  buckets = input_pipeline.cut_buckets(lengths, 4, 10)
  assert sorted(len(b) for b in buckets) == [10, 990]
  assert positions(lengths, buckets) == 990 * 11 + 10 * 66
  single, = input_pipeline.cut_buckets(lengths, 4, 2000)  # Too few for a second batch.
  assert sorted(single.tolist()) == list(range(1000))


def test_the_order_is_deterministic_reshuffled_each_epoch_and_resumable():
  arrays = examples()
  a, b = bucketed(arrays), bucketed(arrays)
  first = [next(a)["row"] for _ in range(30)]
  for rows in first:
    np.testing.assert_array_equal(next(b)["row"], rows)
  assert not all(np.array_equal(x, y) for x, y in
                 zip(first, [next(bucketed(arrays, seed=1))["row"] for _ in range(30)]))
  reference = bucketed(arrays)
  for _ in range(7):
    next(reference)
  state = reference.get_state()
  expected = [next(reference)["row"] for _ in range(25)]  # Across the epoch's end.
  resumed = bucketed(arrays)
  resumed.set_state(state)
  for rows in expected:
    np.testing.assert_array_equal(next(resumed)["row"], rows)


def _model_and_params(batch):
  model = models.build(model_config("encoder_decoder"), vocab_size=V,
                       source=functools.partial(models.TokenInput, V, 4))
  return model, model.init(jax.random.key(0), batch)["params"]


def _one_step(model, params, tx, batch):
  """The change of `params` in one train_step of `batch` with `tx`."""
  state = flax.jax_utils.replicate(train.TrainState(
      step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params),
      rng=jax.random.PRNGKey(1), tx=tx))
  step = jax.vmap(functools.partial(train.train_step, model=model), axis_name=train.AXIS)
  new, _ = step(state, flax.jax_utils.replicate(batch))
  return jax.tree.map(lambda a, b: a[0] - b, new.params, params)


def test_a_bucketed_batch_weighs_each_token_as_a_padded_batch_does_on_average():
  """A batch of short answers must not weigh its tokens more than one of long answers: the
  loss is divided by the batch size times the training set's mean answer tokens."""
  arrays = examples()
  batch = next(bucketed(arrays))
  mean_tokens = np.mean(np.sum(arrays["targets"] != PAD, axis=1))
  np.testing.assert_allclose(batch["loss_tokens"], np.full(10, mean_tokens), rtol=1e-6)

  batch = {k: batch[k] for k in ("inputs", "input_lengths", "targets")}
  model, params = _model_and_params(batch)
  tx = optax.sgd(1.0)  # The update is the gradient, which scales as 1 / the token count.
  counted = _one_step(model, params, tx, batch)
  fixed = _one_step(model, params, tx, batch | {"loss_tokens": np.full(10, 2.5, np.float32)})
  tokens = np.sum(batch["targets"] != PAD)
  for a, b in zip(jax.tree.leaves(counted), jax.tree.leaves(fixed)):
    np.testing.assert_allclose(b, a * tokens / 25.0, rtol=2e-3, atol=1e-7)


def test_a_bucketed_batch_is_clipped_as_the_mean_of_its_tokens_gradients():
  """Gradient clipping must not undo the fixed count: a batch is clipped when the mean of its
  tokens' gradients is over the bound, as a padded batch is, and then keeps its token share
  (under a fixed bound, translation's longest bucket was clipped at every step)."""
  arrays = examples()
  batch = next(bucketed(arrays))
  batch = {k: batch[k] for k in ("inputs", "input_lengths", "targets")}
  model, params = _model_and_params(batch)
  tokens = float(np.sum(batch["targets"] != PAD))
  unclipped = _one_step(model, params, optax.sgd(1.0), batch)  # The mean of its tokens' grads.
  norm = float(optax.tree.norm(unclipped))
  for fixed_count in (tokens / 3, tokens * 3):  # Shares 3 and 1/3.
    share = tokens / fixed_count
    for bound in (norm / 2, norm * 2):  # Clipped as a padded batch, and not.
      tx = optax.chain(train.clip_by_global_norm(bound), optax.sgd(1.0))
      update = _one_step(model, params, tx, batch | {
          "loss_tokens": np.full(10, fixed_count / 10, np.float32)})
      scale = share * min(1.0, bound / norm)
      for got, want in zip(jax.tree.leaves(update), jax.tree.leaves(unclipped)):
        np.testing.assert_allclose(got, want * scale, rtol=2e-3, atol=1e-7)


def test_padded_batches_are_clipped_as_optax_clips_them():
  """With no length buckets the clipping is optax's, to the bit, and so is the optimizer's
  state: runs and checkpoints from before the token share are unchanged."""
  arrays = examples()
  batch = {k: arrays[k][:10] for k in ("inputs", "input_lengths", "targets")}
  model, params = _model_and_params(batch)
  norm = float(optax.tree.norm(_one_step(model, params, optax.sgd(1.0), batch)))
  ours = optax.chain(train.clip_by_global_norm(norm / 2), optax.adam(1e-2))
  theirs = optax.chain(optax.clip_by_global_norm(norm / 2), optax.adam(1e-2))
  assert jax.tree.structure(ours.init(params)) == jax.tree.structure(theirs.init(params))
  for a, b in zip(jax.tree.leaves(_one_step(model, params, ours, batch)),
                  jax.tree.leaves(_one_step(model, params, theirs, batch))):
    np.testing.assert_array_equal(a, b)


def test_a_group_is_one_shape_and_at_most_k_batches():
  it = bucketed(examples())
  for _ in range(20):
    group = it.take_group(5)
    assert 1 <= len(group) <= 5
    assert len({(g["inputs"].shape, g["targets"].shape) for g in group}) == 1


def test_the_order_interleaves_the_buckets_whatever_the_batches_per_dispatch():
  """steps_per_dispatch is a speed setting: groups of k batches draw the very batches, in the
  very order, that k = 1 draws. And batches of every length are interleaved through the epoch,
  not trained k at a time from one bucket (which cost translation BLEU)."""
  arrays = examples(n=1000)
  single = bucketed(arrays)
  per_epoch = sum(len(b) // 10 for b in single.buckets)
  order = [next(single)["row"] for _ in range(2 * per_epoch)]
  for k in (3, 16):
    grouped, rows = bucketed(arrays), []
    while len(rows) < len(order):
      rows += [batch["row"] for batch in grouped.take_group(k)]
    for a, b in zip(order, rows):
      np.testing.assert_array_equal(a, b)
  bucket_of = {int(i): n for n, b in enumerate(single.buckets) for i in b}
  sequence = [bucket_of[int(rows[0])] for rows in order[:per_epoch]]
  switches = sum(a != b for a, b in zip(sequence, sequence[1:]))
  share = np.bincount(sequence) / per_epoch
  expected = (per_epoch - 1) * (1 - np.sum(share ** 2))  # Of a uniformly shuffled order.
  assert switches > 0.7 * expected, (switches, expected)


def model_config(name, attention="none"):
  config = config_lib.base_config().model
  config.name, config.attention, config.hidden_size, config.embed_dim = name, attention, 8, 4
  return config


@pytest.mark.parametrize("name, attention", [("repeat", "none"), ("encoder_decoder", "none"),
                                             ("encoder_decoder", "bahdanau"),
                                             ("encoder_decoder", "luong")])
def test_a_cut_batch_has_the_losses_and_gradients_of_the_padded_one(name, attention):
  arrays = examples(n=8, max_source=12, max_target=9)
  arrays["inputs"][:, 7:] = PAD  # Real lengths up to 7 inputs, 5 targets: cut there.
  arrays["input_lengths"] = np.minimum(arrays["input_lengths"], 7)
  arrays["targets"][:, 5:] = PAD
  arrays["targets"][:, 4] = np.where(arrays["targets"][:, 4] == PAD, PAD, EOS)
  full = {k: arrays[k] for k in ("inputs", "input_lengths", "targets")}
  cut = dict(full, inputs=full["inputs"][:, :7], targets=full["targets"][:, :5])
  model = models.build(model_config(name, attention), vocab_size=V,
                       source=functools.partial(models.TokenInput, V, 4))
  params = model.init(jax.random.key(0), full)["params"]
  weights = np.ones(8, np.float32)

  def loss(p, batch):
    logits = model.apply({"params": p}, batch, train=True)
    sums = metrics_lib.loss_sums(logits, batch["targets"], weights)
    return sums["loss_sum"] / sums["tokens"]

  value_and_grad = jax.jit(jax.value_and_grad(loss))  # A program per shape, not per operation.
  value_full, grads_full = value_and_grad(params, full)
  value_cut, grads_cut = value_and_grad(params, cut)
  np.testing.assert_allclose(value_cut, value_full, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(grads_cut), jax.tree.leaves(grads_full)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)


@pytest.mark.slow
def test_a_bucketed_run_trains_resumes_exactly_and_refuses_what_it_cannot_do(tmp_path, data_dir):
  args = ["--config.num_steps=90", "--config.length_buckets=3", "--config.task.digits=3",
          "--config.checkpoint_every_steps=30", "--config.keep_checkpoints=5",
          "--config.num_samples=0", "--config.steps_per_dispatch=4"]
  reference = tmp_path / "reference"
  result = train_cli(reference, data_dir, *args)
  assert result.returncode == 0, result.stderr
  assert [e["step"] for e in read_metrics(reference) if e["split"] == "test"] == [90]
  resumed = tmp_path / "resumed"
  resume_after(reference, resumed, 30, data_dir, *args)
  for a, b in zip(final_params(reference), final_params(resumed), strict=True):
    np.testing.assert_array_equal(a, b)
  single = tmp_path / "single"  # One step per dispatch: the same batches, the same training.
  result = train_cli(single, data_dir, *args, "--config.steps_per_dispatch=1")
  assert result.returncode == 0, result.stderr
  for a, b in zip(final_params(reference), final_params(single), strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  # experiments/translation/grad_norms.py reads any bucketed task's run.
  grad_norms = [sys.executable, os.path.join(ROOT, "experiments", "translation", "grad_norms.py"),
                f"--workdir={reference}", f"--data_dir={data_dir}", "--batches=12"]
  result = run([*grad_norms, "--bound=0.5"], capture_output=True, text=True)
  assert result.returncode == 0, result.stderr
  rows = [line.split("|")[1:-1] for line in result.stdout.splitlines()
          if line.startswith("| padded") or line.startswith("| 3 buckets")]
  padded = [r for r in rows if r[0].strip() == "padded"]
  cut = [r for r in rows if r[0].strip() == "3 buckets"]
  assert len(padded) == 1 and padded[0][2].strip() == "12"
  assert padded[0][5] == padded[0][6]  # A padded batch's token share is 1.
  assert sum(int(r[2]) for r in cut) == 12 and 1 <= len(cut) <= 3
  assert all(int(r[1]) <= int(padded[0][1]) for r in cut)
  assert [float(r[3]) for r in cut] == sorted(float(r[3]) for r in cut)  # Longer, more tokens.
  assert_user_error(run(grad_norms, capture_output=True, text=True),
                    "config.grad_clip_norm", "--bound")
  assert_user_error(train_cli(tmp_path / "streamed", data_dir, *args,
                              "--config.data_memory_mb=0"),
                    "config.length_buckets", "config.data_memory_mb")
  assert_user_error(train_cli(tmp_path / "curriculum", data_dir, *args,
                              "--config.task.curriculum=mix"),
                    "config.task.curriculum", "config.length_buckets")


def test_a_bucketed_run_trains_the_same_on_one_device_and_two(tmp_path, data_dir):
  """Both CPU cores as two devices is a speed setting for bucketed batches too: the fixed
  count, the token share of the clipping bound and the metrics are those of the global batch."""
  args = ["--config.num_steps=24", "--config.log_every_steps=8", "--config.length_buckets=3",
          "--config.task.digits=3", "--config.grad_clip_norm=0.05", "--config.num_samples=0",
          "--config.steps_per_dispatch=4"]
  runs = train_on_devices(tmp_path, data_dir, args)
  assert sum(e["split"] == "train" for e in runs[1]) == 3
  for one, two in zip(runs[1], runs[2], strict=True):
    assert (one["step"], one["split"]) == (two["step"], two["split"])
    for name in ("loss", "token_accuracy"):
      assert two[name] == pytest.approx(one[name], rel=1e-4, abs=1e-6), (one, two)
