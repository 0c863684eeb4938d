"""Loss and accuracy sums: padding and padding-only examples never count."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2s import metrics
from s2s.vocab import EOS, PAD

V = 7
# Answer ids + EOS, PAD-padded: lengths 4, 2 and 1 real positions.
TARGETS = jnp.array([[4, 5, 6, EOS],
                     [6, EOS, PAD, PAD],
                     [EOS, PAD, PAD, PAD]], jnp.int32)
REAL = np.asarray(TARGETS) != PAD


# Jitted as in a train or eval step (and far faster to compile than op-by-op dispatch).
loss_sums = jax.jit(metrics.loss_sums)
accuracy_sums = jax.jit(metrics.accuracy_sums)


def random_logits(seed, shape=(3, 4, V)):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape) * 3, jnp.float32)


def reference_loss(logits, targets, weights):
  x = np.asarray(logits, np.float64)
  logp = x - np.log(np.exp(x).sum(-1, keepdims=True))
  total, count = 0.0, 0.0
  for b in range(targets.shape[0]):
    for t in range(targets.shape[1]):
      if targets[b, t] != PAD:
        total -= weights[b] * float(logp[b, t, targets[b, t]])
        count += weights[b]
  return total, count


def test_loss_sums_match_cross_entropy_over_real_tokens():
  logits = random_logits(0)
  weights = jnp.ones(3)
  sums = loss_sums(logits, TARGETS, weights)
  total, count = reference_loss(logits, np.asarray(TARGETS), np.ones(3))
  assert float(sums["tokens"]) == count == 7
  assert float(sums["loss_sum"]) == pytest.approx(total, rel=1e-5)


def test_loss_ignores_logits_at_pad_positions():
  logits = random_logits(1)
  noise = random_logits(2) * 10
  changed = jnp.where(jnp.asarray(REAL)[..., None], logits, noise)
  assert not np.allclose(changed, logits)
  a = loss_sums(logits, TARGETS, jnp.ones(3))
  b = loss_sums(changed, TARGETS, jnp.ones(3))
  assert float(a["loss_sum"]) == pytest.approx(float(b["loss_sum"]), rel=1e-6)
  assert float(a["tokens"]) == float(b["tokens"]) == REAL.sum()
  # A real position does count.
  c = loss_sums(logits.at[1, 0].set(noise[1, 0]), TARGETS, jnp.ones(3))
  assert float(c["loss_sum"]) != pytest.approx(float(a["loss_sum"]), rel=1e-6)


def test_rows_with_zero_weight_contribute_nothing():
  logits = random_logits(3)
  weights = jnp.array([1.0, 0.0, 1.0])
  sums = loss_sums(logits, TARGETS, weights)
  keep = np.array([0, 2])
  alone = loss_sums(logits[keep], TARGETS[keep], jnp.ones(2))
  assert float(sums["loss_sum"]) == pytest.approx(float(alone["loss_sum"]), rel=1e-6)
  assert float(sums["tokens"]) == float(alone["tokens"]) == 5
  predictions = jnp.argmax(logits, -1)
  acc = accuracy_sums(predictions, TARGETS, weights)
  acc_alone = accuracy_sums(predictions[keep], TARGETS[keep], jnp.ones(2))
  for key in acc:
    assert float(acc[key]) == float(acc_alone[key]), key


def test_accuracy_sums_on_a_hand_made_batch():
  predictions = jnp.array([[4, 5, 6, EOS],       # all right
                           [6, 5, PAD, PAD],     # EOS wrong
                           [EOS, 4, 4, 4]],      # right answer, wrong padding
                          jnp.int32)
  sums = accuracy_sums(predictions, TARGETS, jnp.ones(3))
  assert float(sums["token_correct"]) == 4 + 1 + 1
  assert float(sums["sequence_correct"]) == 2
  assert float(sums["sequences"]) == 3
  assert float(sums["padded_correct"]) == 4 + 3 + 1
  assert float(sums["padded_total"]) == 12


def test_sequence_correct_needs_every_real_position():
  for t in range(4):
    predictions = TARGETS.at[0, t].set(5 if TARGETS[0, t] != 5 else 6)
    sums = accuracy_sums(predictions, TARGETS, jnp.ones(3))
    assert float(sums["sequence_correct"]) == 2
    assert float(sums["token_correct"]) == 6


def test_token_accuracy_excludes_padding_but_padded_accuracy_includes_it():
  # Everything wrong except predicting PAD where the target is PAD.
  predictions = jnp.where(TARGETS == PAD, PAD, 5 + (TARGETS == 5)).astype(jnp.int32)
  sums = accuracy_sums(predictions, TARGETS, jnp.ones(3))
  assert float(sums["token_correct"]) == 0
  assert float(sums["sequence_correct"]) == 0
  assert float(sums["padded_correct"]) == (~REAL).sum() == 5


def test_finalize_predictions_pads_after_first_eos_and_keeps_it():
  predictions = jnp.array([[5, EOS, 6, 7],
                           [5, 6, EOS, EOS],
                           [EOS, 5, EOS, 5],
                           [5, 6, 7, 4]], jnp.int32)
  expected = np.array([[5, EOS, PAD, PAD],
                       [5, 6, EOS, PAD],
                       [EOS, PAD, PAD, PAD],
                       [5, 6, 7, 4]])
  np.testing.assert_array_equal(metrics.finalize_predictions(predictions), expected)


def test_finalized_right_answer_is_sequence_correct_despite_junk_after_eos():
  predictions = jnp.array([[4, 5, 6, EOS], [6, EOS, 4, 5], [EOS, EOS, 6, 6]], jnp.int32)
  sums = accuracy_sums(metrics.finalize_predictions(predictions), TARGETS, jnp.ones(3))
  assert float(sums["sequence_correct"]) == 3
  assert float(sums["padded_correct"]) == 12


def test_summarize_gives_ratios():
  sums = {"loss_sum": 6.0, "tokens": 8.0, "token_correct": 6.0, "sequence_correct": 1.0,
          "sequences": 4.0, "padded_correct": 9.0, "padded_total": 12.0}
  out = metrics.summarize(sums)
  assert out == {"loss": 0.75, "token_accuracy": 0.75, "sequence_accuracy": 0.25,
                 "padded_char_accuracy": 0.75}
  assert all(isinstance(v, float) for v in out.values())


def test_summarize_of_device_sums_and_absent_metrics():
  logits = random_logits(4)
  predictions = metrics.finalize_predictions(jnp.argmax(logits, -1).astype(jnp.int32))
  sums = {**loss_sums(logits, TARGETS, jnp.ones(3)),
          **accuracy_sums(predictions, TARGETS, jnp.ones(3))}
  out = metrics.summarize(jax.device_get(sums))
  assert out["loss"] == pytest.approx(float(sums["loss_sum"]) / 7, rel=1e-6)
  assert out["token_accuracy"] == pytest.approx(float(sums["token_correct"]) / 7)
  assert out["sequence_accuracy"] == pytest.approx(float(sums["sequence_correct"]) / 3)
  assert metrics.summarize({"loss_sum": 2.0, "tokens": 4.0}) == {"loss": 0.5}
  assert metrics.summarize({}) == {}


def test_sums_over_two_halves_add_up_to_the_whole():
  logits = random_logits(5, (6, 4, V))
  targets = jnp.concatenate([TARGETS, TARGETS[::-1]])
  weights = jnp.array([1, 1, 1, 1, 0, 1], jnp.float32)
  predictions = jnp.argmax(logits, -1)
  whole = {**loss_sums(logits, targets, weights),
           **accuracy_sums(predictions, targets, weights)}
  halves = [{**loss_sums(logits[s], targets[s], weights[s]),
             **accuracy_sums(predictions[s], targets[s], weights[s])}
            for s in (slice(0, 3), slice(3, 6))]
  for key in whole:
    assert float(whole[key]) == pytest.approx(float(halves[0][key] + halves[1][key]), rel=1e-6)
