"""Dropout masks are a function of the example and the step, not of the device holding it."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import train_on_devices
from s2s import config as config_lib
from s2s import models


def masks(rate, ids, rng, shape=(64,)):
  """The kept positions (bool [len(ids), *shape]) of models.Dropout for rows `ids`."""
  x = jnp.ones((len(ids), *shape), jnp.float32)
  y = models.Dropout(rate).apply({}, x, jnp.asarray(ids, jnp.int32), deterministic=False,
                                 rngs={"dropout": rng})
  y = np.asarray(y)
  assert set(np.unique(y)) <= {0.0, np.float32(1 / (1 - rate))}  # Kept values are rescaled.
  return y != 0


def test_masks_differ_between_examples_and_steps_and_follow_the_example():
  step_0, step_1 = (jax.random.fold_in(jax.random.key(0), step) for step in (0, 1))
  full = masks(0.3, [0, 1, 2, 3], step_0)
  assert 0.6 < full.mean() < 0.8
  assert len({m.tobytes() for m in full}) == 4  # Every example its own mask.
  assert not np.array_equal(masks(0.3, [0, 1, 2, 3], step_1), full)  # A new mask each step.
  # A row's mask depends on its id alone: the halves a second device would hold, or the rows
  # in another order, get the rows' masks of the whole batch.
  np.testing.assert_array_equal(masks(0.3, [2, 3], step_0), full[2:])
  np.testing.assert_array_equal(masks(0.3, [3, 0], step_0), full[[3, 0]])
  # Rate 0, or evaluation, is the identity.
  x = jnp.arange(6, dtype=jnp.float32).reshape(2, 3)
  assert models.Dropout(0.0).apply({}, x, None, deterministic=False) is x
  assert models.Dropout(0.5).apply({}, x, None, deterministic=True) is x


def model_config(name):
  config = config_lib.base_config().model
  config.name = name
  config.hidden_size = 8
  config.encoder_layers = config.decoder_layers = 2
  config.bidirectional = True
  config.dropout = 0.3
  config.embed_dim = 4
  if name == "encoder_decoder":
    config.attention = "luong"  # Dropout after the attention layer too.
  return config


@pytest.mark.parametrize("name", ["repeat", "encoder_decoder"])
def test_a_batch_split_in_two_gets_the_logits_of_the_whole_batch(name):
  """What pmap over 2 devices computes (each half with its global row ids) equals one device,
  dropout in the encoder, the decoder and inside the decoder's scan included."""
  config = model_config(name)
  model = models.build(config, vocab_size=12,
                       source=functools.partial(models.TokenInput, 12, config.embed_dim))
  rng = np.random.default_rng(0)
  batch = {"inputs": rng.integers(4, 12, (4, 5)).astype(np.int32),
           "input_lengths": np.array([5, 3, 1, 4], np.int32),
           "targets": rng.integers(4, 12, (4, 6)).astype(np.int32)}
  params = jax.jit(model.init)(jax.random.key(0), batch)["params"]
  dropout = {"dropout": jax.random.fold_in(jax.random.key(1), 7)}

  jitted = jax.jit(lambda b: model.apply({"params": params}, b, train=True, rngs=dropout))

  def apply(rows, ids):
    return np.asarray(jitted({k: v[rows] for k, v in batch.items()} | {"example_ids": ids}))

  whole = apply(np.arange(4), jnp.arange(4))
  halves = np.concatenate([apply(np.arange(2), jnp.arange(2)),
                           apply(np.arange(2, 4), jnp.arange(2, 4))])
  np.testing.assert_allclose(halves, whole, rtol=1e-6, atol=1e-6)
  # Not vacuous: dropout is on, and the second half's ids are not the first half's.
  evaluated = jax.jit(model.apply)({"params": params}, batch)
  assert not np.allclose(whole, evaluated, atol=1e-3)
  assert not np.allclose(apply(np.arange(2, 4), jnp.arange(2)), whole[2:], atol=1e-3)


@pytest.mark.slow
def test_two_devices_match_one_device_with_dropout(tmp_path, data_dir):
  """The README's promise, with dropout: 1 and 2 devices train the same model."""
  args = ["--config.num_steps=30", "--config.log_every_steps=5", "--config.batch_size=32",
          "--config.learning_rate=1e-2", "--config.model.dropout=0.3",
          "--config.model.name=encoder_decoder", "--config.model.bidirectional=True",
          "--config.model.encoder_layers=2", "--config.model.decoder_layers=2",
          "--config.num_samples=0"]
  runs = train_on_devices(tmp_path, data_dir, args)
  assert sum(e["split"] == "train" for e in runs[1]) == 6
  for one, two in zip(runs[1], runs[2], strict=True):
    assert (one["step"], one["split"]) == (two["step"], two["split"])
    for name in ("loss", "token_accuracy", "sequence_accuracy"):
      assert two[name] == pytest.approx(one[name], rel=1e-4, abs=1e-6), (one, two)
