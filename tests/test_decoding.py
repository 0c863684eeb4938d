"""Greedy, sampled and beam-search decoding, over step functions built in the tests."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from s2s import decoding
from s2s.vocab import BOS, EOS, PAD

V, H = 8, 16  # The random model's vocabulary and hidden sizes.


# A small random LSTM-like model in plain jnp. Its state is a pytree of tuples with an int
# leaf, and it closes over per-example constants ("memory"), as an encoder-decoder would.
def random_params(seed):
  rng = np.random.default_rng(seed)
  return {name: jnp.asarray(rng.normal(size=shape), jnp.float32)
          for name, shape in [("embed", (V, H)), ("recur", (H, H)), ("out", (H, V))]}


def random_memory(seed, batch):
  """Per-example constants: an input bias, and a bias of EOS's logit (-30: never ends)."""
  rng = np.random.default_rng(seed)
  return {"x": jnp.asarray(rng.normal(size=(batch, H)), jnp.float32),
          "eos": jnp.asarray(rng.normal(size=(batch,)), jnp.float32)}


def initial_state(seed, batch):
  rng = np.random.default_rng(seed)
  c, h = (jnp.asarray(rng.normal(size=(batch, H)), jnp.float32) for _ in range(2))
  return ((c, h), jnp.zeros((batch,), jnp.int32))


def random_step_fn(params, memory):
  def step_fn(tokens, state):
    (c, h), steps = state
    x = params["embed"][tokens] + memory["x"]
    c = 0.5 * c + jnp.tanh(x + h @ params["recur"])
    h = jnp.tanh(c)
    # EOS grows likelier with every step, so hypotheses end at different lengths.
    eos = memory["eos"] + 0.7 * steps - 2.0
    logits = (h @ params["out"]).at[:, EOS].add(eos)
    return logits, ((c, h), steps + 1)
  return step_fn


# Decoding entry points jitted the way a caller would: params and inputs traced.
@functools.partial(jax.jit, static_argnames=("max_length",))
def random_greedy(params, memory, state, *, max_length):
  return decoding.greedy(random_step_fn(params, memory), state,
                         batch_size=memory["x"].shape[0], max_length=max_length)


@functools.partial(jax.jit, static_argnames=("max_length", "temperature"))
def random_sample(params, memory, state, rng, *, max_length, temperature):
  return decoding.sample(random_step_fn(params, memory), state, rng,
                         batch_size=memory["x"].shape[0], max_length=max_length,
                         temperature=temperature)


@functools.partial(jax.jit, static_argnames=("beam_size", "max_length", "alpha"))
def random_beam(params, memory, state, *, beam_size, max_length, alpha):
  step_fn = random_step_fn(params, decoding.tile_beams(memory, beam_size))
  return decoding.beam_search(step_fn, state, batch_size=memory["x"].shape[0],
                              beam_size=beam_size, max_length=max_length, alpha=alpha)


def random_model(batch=4, seed=0):
  return random_params(seed), random_memory(seed + 1, batch), initial_state(seed + 2, batch)


def row(tree, b):
  return jax.tree.map(lambda x: x[b:b + 1], tree)


def reference_log_prob(step_fn, state, ids):
  """Sum of log_softmax over one sequence's tokens up to EOS, fed one at a time (float64)."""
  step_fn = jax.jit(step_fn)
  previous, total, length = BOS, 0.0, 0
  for token in np.asarray(ids).tolist():
    logits, state = step_fn(jnp.array([previous], jnp.int32), state)
    x = np.asarray(logits[0], np.float64)
    x[[PAD, BOS]] = -np.inf  # Never emitted.
    total += x[token] - x.max() - np.log(np.exp(x - x.max()).sum())
    length += 1
    if token == EOS:
      break
    previous = token
  return total, length


def reference_greedy(step_fn, state, max_length):
  """Argmax decoding of one example, one Python step at a time."""
  step_fn = jax.jit(step_fn)
  ids, previous = [], BOS
  while len(ids) < max_length and previous != EOS:
    logits, state = step_fn(jnp.array([previous], jnp.int32), state)
    x = np.asarray(logits[0], np.float64)
    x[[PAD, BOS]] = -np.inf  # Never emitted.
    previous = int(np.argmax(x))
    ids.append(previous)
  return ids + [PAD] * (max_length - len(ids))


def table_step_fn(first, then):
  """A stateless-but-for-the-step model: p(first token) = first, p(next | previous) = then.

  first: probabilities [V'], then: {previous token: probabilities [V']}; rows of `then` not
  given put all mass on EOS. State: int32 [N] steps taken.
  """
  size = len(first)
  table = np.zeros((size, size))
  table[:, EOS] = 1.0
  for previous, p in then.items():
    table[previous] = p
  log_first = jnp.log(jnp.maximum(jnp.asarray(first, jnp.float32), 1e-9))
  log_table = jnp.log(jnp.maximum(jnp.asarray(table, jnp.float32), 1e-9))

  def step_fn(tokens, steps):
    logits = jnp.where((steps == 0)[:, None], log_first, log_table[tokens])
    return logits, steps + 1
  return step_fn


def probs(size=6, **mass):
  """A distribution over `size` tokens; mass maps "t3" (token 3), "eos" to probabilities."""
  p = np.zeros(size)
  for name, value in mass.items():
    p[EOS if name == "eos" else int(name[1:])] = value
  return p


def test_greedy_matches_step_by_step_argmax_and_pads_after_eos():
  params, memory, state = random_model(batch=6)
  ids = np.asarray(random_greedy(params, memory, state, max_length=7))
  for b in range(6):
    expected = reference_greedy(random_step_fn(params, row(memory, b)), row(state, b), 7)
    assert ids[b].tolist() == expected
  # The model ends some examples early and runs others to max_length.
  lengths = [(r.tolist() + [EOS]).index(EOS) + 1 for r in ids]  # 8: no EOS.
  assert min(lengths) < 7 and max(lengths) == 8, ids


def test_beam_size_one_without_penalty_is_greedy():
  params, memory, state = random_model(batch=8, seed=3)
  greedy = random_greedy(params, memory, state, max_length=7)
  ids, _ = random_beam(params, memory, state, beam_size=1, max_length=7, alpha=0.0)
  np.testing.assert_array_equal(ids[:, 0], greedy)
  assert len({tuple(r) for r in np.asarray(greedy).tolist()}) > 1  # Not a constant answer.


def test_beam_finds_a_likelier_sequence_than_greedy():
  # Greedy takes 3 (0.6), whose continuations are flat; 4 (0.4) is then almost surely EOS.
  step_fn = table_step_fn(probs(t3=0.6, t4=0.4),
                          {3: probs(eos=0.34, t3=0.33, t4=0.33), 4: probs(eos=0.9, t5=0.1)})
  state = jnp.zeros((1,), jnp.int32)
  greedy = decoding.greedy(step_fn, state, batch_size=1, max_length=4)
  ids, scores = decoding.beam_search(step_fn, state, batch_size=1, beam_size=2, max_length=4,
                                     alpha=0.0)
  assert greedy.tolist() == [[3, EOS, PAD, PAD]]
  assert ids.tolist() == [[[4, EOS, PAD, PAD], [3, EOS, PAD, PAD]]]
  beam_log_prob, _ = reference_log_prob(step_fn, state, ids[0, 0])
  greedy_log_prob, _ = reference_log_prob(step_fn, state, greedy[0])
  assert beam_log_prob == pytest.approx(np.log(0.4 * 0.9), abs=1e-5)
  assert greedy_log_prob == pytest.approx(np.log(0.6 * 0.34), abs=1e-5)
  assert beam_log_prob > greedy_log_prob
  np.testing.assert_allclose(scores[0], [beam_log_prob, greedy_log_prob], rtol=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_scores_are_log_prob_over_length_penalty_best_first(alpha):
  params, memory, state = random_model(batch=3, seed=5)
  k, t = 3, 6
  ids, scores = random_beam(params, memory, state, beam_size=k, max_length=t, alpha=alpha)
  ids, scores = np.asarray(ids), np.asarray(scores)
  assert ids.shape == (3, k, t) and ids.dtype == np.int32 and scores.dtype == np.float32
  lengths = []
  for b in range(3):
    step_fn = random_step_fn(params, row(memory, b))
    assert len({tuple(r) for r in ids[b].tolist()}) == k  # Distinct hypotheses.
    for j in range(k):
      log_prob, length = reference_log_prob(step_fn, row(state, b), ids[b, j])
      assert scores[b, j] == pytest.approx(log_prob / ((5 + length) / 6) ** alpha, rel=1e-5)
      lengths.append(length)
    assert np.all(np.diff(scores[b]) <= 0), scores[b]
  assert min(lengths) < t and max(lengths) == t, lengths  # Both kinds of ending occur.


def counting_steps(step_fn, calls):
  """step_fn that appends to `calls` each time a decoding loop runs it."""
  def counted(tokens, state):
    jax.debug.callback(lambda: calls.append(1))
    return step_fn(tokens, state)
  return counted


def test_examples_are_decoded_independently():
  params, memory, state = random_model(batch=3, seed=7)
  memory = {**memory, "eos": jnp.full((3,), 6.0)}  # Every example ends within a few steps ...
  changed_memory = {"x": memory["x"].at[1].set(-memory["x"][1]),
                    "eos": memory["eos"].at[1].set(-30.0)}  # ... but a changed example 1.
  changed_state = jax.tree.map(lambda x: x.at[1].set(x[0]), state)
  results, steps = [], []
  for m, s in [(memory, state), (changed_memory, changed_state)]:
    calls = []
    step_fn = counting_steps(random_step_fn(params, decoding.tile_beams(m, 3)), calls)
    results.append(decoding.beam_search(step_fn, s, batch_size=3, beam_size=3, max_length=8))
    steps.append(len(calls))
  (ids, scores), (ids2, scores2) = results
  assert steps[0] < steps[1] == 8  # The search stopped early, then ran on for example 1.
  assert np.all(np.asarray(ids2)[1] != PAD) and not np.array_equal(ids[1], ids2[1])
  for b in (0, 2):
    np.testing.assert_array_equal(ids[b], ids2[b])
    np.testing.assert_array_equal(scores[b], scores2[b])


def test_eos_first_gives_length_one():
  step_fn = table_step_fn(probs(eos=0.7, t3=0.2, t4=0.1), {3: probs(t3=1.0), 4: probs(t4=1.0)})
  state = jnp.zeros((2,), jnp.int32)
  assert decoding.greedy(step_fn, state, batch_size=2, max_length=3).tolist() == [
      [EOS, PAD, PAD]] * 2
  ids, scores = decoding.beam_search(step_fn, state, batch_size=2, beam_size=2, max_length=3,
                                     alpha=0.6)
  # The runner-up never finds EOS: ended at max_length, it competes as it is.
  assert ids.tolist() == [[[EOS, PAD, PAD], [3, 3, 3]]] * 2
  np.testing.assert_allclose(scores, [[np.log(0.7), np.log(0.2) / (8 / 6) ** 0.6]] * 2,
                             rtol=1e-5)


def test_pad_and_bos_are_never_emitted():
  # The model's favourites are PAD, then BOS; the best real token is 4.
  step_fn = table_step_fn(probs(t0=0.5, t1=0.3, t4=0.15, eos=0.05),
                          {4: probs(t0=0.5, t1=0.3, eos=0.2)})
  state = jnp.zeros((1,), jnp.int32)
  assert decoding.greedy(step_fn, state, batch_size=1, max_length=3).tolist() == [[4, EOS, PAD]]
  ids, scores = decoding.beam_search(step_fn, state, batch_size=1, beam_size=1, max_length=3,
                                     alpha=0.0)
  assert ids.tolist() == [[[4, EOS, PAD]]]
  # Renormalized over the tokens that can be emitted: 0.15 / 0.2, then 0.2 / 0.2.
  np.testing.assert_allclose(scores, [[np.log(0.75)]], rtol=1e-5)
  sampled = decoding.sample(step_fn, jnp.zeros((1000,), jnp.int32), jax.random.PRNGKey(0),
                            batch_size=1000, max_length=3)
  assert set(map(tuple, np.asarray(sampled).tolist())) == {(4, EOS, PAD), (EOS, PAD, PAD)}


def test_max_length_without_eos_gives_full_sequences():
  params, memory, state = random_model(batch=3, seed=9)
  memory = {**memory, "eos": jnp.full((3,), -30.0)}
  greedy = np.asarray(random_greedy(params, memory, state, max_length=5))
  ids, _ = random_beam(params, memory, state, beam_size=2, max_length=5, alpha=0.6)
  ids = np.asarray(ids)
  for out in (greedy, ids.reshape(-1, 5)):
    assert np.all((out != PAD) & (out != EOS)), out
  np.testing.assert_array_equal(greedy[0], reference_greedy(
      random_step_fn(params, row(memory, 0)), row(state, 0), 5))


@pytest.mark.parametrize("alpha, best", [(0.0, [EOS, PAD, PAD]), (3.0, [3, EOS, PAD])])
def test_length_penalty_favours_longer_hypotheses(alpha, best):
  # [EOS]: log 0.55 = -0.598. [3, EOS]: log 0.45 = -0.799, over (7/6)^3 = 1.588: -0.503.
  step_fn = table_step_fn(probs(eos=0.55, t3=0.45), {3: probs(eos=1.0)})
  ids, scores = decoding.beam_search(step_fn, jnp.zeros((1,), jnp.int32), batch_size=1,
                                     beam_size=2, max_length=3, alpha=alpha)
  assert ids[0, 0].tolist() == best
  short, long = np.log(0.55), np.log(0.45) / (7 / 6) ** alpha
  np.testing.assert_allclose(scores[0], sorted([short, long], reverse=True), rtol=1e-5)


def test_early_stopping_leaves_room_for_the_length_penalty():
  # After one step [EOS] (log 0.6) is finished and beats the alive [3] (log 0.4). With
  # alpha=3, [3, 4, EOS] (log 0.4 over (8/6)^3) beats it, so the search must go on.
  step_fn = table_step_fn(probs(eos=0.6, t3=0.4), {3: probs(t4=1.0), 4: probs(eos=1.0)})
  ids, scores = decoding.beam_search(step_fn, jnp.zeros((1,), jnp.int32), batch_size=1,
                                     beam_size=1, max_length=3, alpha=3.0)
  assert ids.tolist() == [[[3, 4, EOS]]]
  np.testing.assert_allclose(scores, [[np.log(0.4) / (8 / 6) ** 3]], rtol=1e-5)


def test_a_tie_keeps_the_hypothesis_found_first():
  # Example 0: [EOS] and [3, EOS] both have probability 1/2 exactly. Alone, its search stops
  # after [EOS]; beside example 1, which never ends, it goes on and meets [3, EOS]. (Example 1
  # starts at step 1, so it reads the table's BOS row.)
  step_fn = table_step_fn(probs(eos=0.5, t3=0.5), {3: probs(eos=1.0), BOS: probs(t4=1.0),
                                                   4: probs(t4=1.0)})
  alone = decoding.beam_search(step_fn, jnp.array([0]), batch_size=1, beam_size=1,
                               max_length=4, alpha=0.0)
  batched = decoding.beam_search(step_fn, jnp.array([0, 1]), batch_size=2, beam_size=1,
                                 max_length=4, alpha=0.0)
  assert alone[0].tolist() == [[[EOS, PAD, PAD, PAD]]]
  assert batched[0].tolist() == [[[EOS, PAD, PAD, PAD]], [[4, 4, 4, 4]]]
  assert float(alone[1][0, 0]) == float(batched[1][0, 0]) == pytest.approx(np.log(0.5))


def test_sampling_at_low_temperature_is_greedy():
  params, memory, state = random_model(batch=8, seed=3)
  greedy = random_greedy(params, memory, state, max_length=7)
  for seed in range(3):
    sampled = random_sample(params, memory, state, jax.random.PRNGKey(seed), max_length=7,
                            temperature=1e-4)
    np.testing.assert_array_equal(sampled, greedy)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sampling_frequencies_match_the_distribution(temperature):
  # 3 (0.3) then EOS; 4 (0.7) then EOS or 3 (0.5 each) then EOS.
  step_fn = table_step_fn(probs(t3=0.3, t4=0.7), {4: probs(eos=0.5, t3=0.5)})
  n = 20000
  ids = jax.jit(functools.partial(decoding.sample, step_fn, batch_size=n, max_length=3,
                                  temperature=temperature))(
                                      jnp.zeros((n,), jnp.int32), jax.random.PRNGKey(0))
  rows = [tuple(r) for r in np.asarray(ids).tolist()]
  p3 = 0.3 ** (1 / temperature) / (0.3 ** (1 / temperature) + 0.7 ** (1 / temperature))
  expected = {(3, EOS, PAD): p3, (4, EOS, PAD): (1 - p3) / 2, (4, 3, EOS): (1 - p3) / 2}
  assert set(rows) == set(expected)
  for seq, p in expected.items():
    assert rows.count(seq) / n == pytest.approx(p, abs=0.015), seq


def test_same_rng_same_samples():
  params, memory, state = random_model(batch=16, seed=11)
  a, b, c = (random_sample(params, memory, state, jax.random.PRNGKey(seed), max_length=7,
                           temperature=1.0) for seed in (0, 0, 1))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_unjitted_calls_match_jitted_ones():
  params, memory, state = random_model(batch=3, seed=5)
  step_fn = random_step_fn(params, memory)
  np.testing.assert_array_equal(
      decoding.greedy(step_fn, state, batch_size=3, max_length=6),
      random_greedy(params, memory, state, max_length=6))
  np.testing.assert_array_equal(
      decoding.sample(step_fn, state, jax.random.PRNGKey(2), batch_size=3, max_length=6),
      random_sample(params, memory, state, jax.random.PRNGKey(2), max_length=6,
                    temperature=1.0))
  ids, scores = decoding.beam_search(random_step_fn(params, decoding.tile_beams(memory, 3)),
                                     state, batch_size=3, beam_size=3, max_length=6)
  ids2, scores2 = random_beam(params, memory, state, beam_size=3, max_length=6, alpha=0.6)
  np.testing.assert_array_equal(ids, ids2)
  np.testing.assert_allclose(scores, scores2, rtol=1e-6)


def test_tile_beams_repeats_rows_per_example():
  tree = ((jnp.arange(6).reshape(3, 2), jnp.arange(3)), {"x": jnp.arange(3.0)})
  tiled = decoding.tile_beams(tree, 2)
  assert tiled[0][0].tolist() == [[0, 1], [0, 1], [2, 3], [2, 3], [4, 5], [4, 5]]
  assert tiled[0][1].tolist() == [0, 0, 1, 1, 2, 2]
  assert tiled[1]["x"].tolist() == [0.0, 0.0, 1.0, 1.0, 2.0, 2.0]


def test_state_with_wrong_batch_dim_is_refused():
  step_fn = table_step_fn(probs(eos=1.0), {})
  with pytest.raises(ValueError, match="batch_size=2"):
    decoding.beam_search(step_fn, jnp.zeros((3,), jnp.int32), batch_size=2, beam_size=2,
                         max_length=3)
