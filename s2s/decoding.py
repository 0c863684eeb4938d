"""Greedy, sampled and beam-search decoding over any model's one-step function.

A model is seen only through
  step_fn(tokens, state) -> (logits, new_state)
    tokens:    int32 [N]            each row's previous token (BOS at the first step)
    state:     any pytree of arrays with leading dim N (e.g. LSTM (c, h) tuples per layer)
    logits:    float [N, vocab_size] scores of each row's next token
The caller closes step_fn over the params and anything per-example that does not change
(encoder outputs, source lengths), already laid out with one row per decoded row.

Every function returns ids int32 [..., max_length]: the decoded tokens, EOS included, and
PAD after EOS (and PAD only there). A sequence that reaches max_length without EOS has none.
PAD and BOS are never emitted: their logits are masked before argmax, sampling and
log_softmax, so probabilities (and beam scores) are renormalized over the other tokens.
All loops are lax.while_loops that stop once every row is done, so the functions jit with
batch_size, beam_size, max_length and alpha static.
"""

from typing import Any, Callable, NamedTuple

import jax
from jax import lax
import jax.numpy as jnp

from s2s.vocab import BOS, EOS, PAD

StepFn = Callable[[jax.Array, Any], tuple[jax.Array, Any]]

# An impossible log-probability. Finite, so adding, dividing and comparing never makes NaNs.
NEG_INF = -1.0e7


def greedy(step_fn: StepFn, state, *, batch_size: int, max_length: int) -> jax.Array:
  """The argmax token at every step: int32 [batch_size, max_length].

  `state` has leading dim batch_size; step_fn gets N = batch_size rows.
  """
  _check_args(state, batch_size, max_length)
  return _decode(step_fn, state, lambda logits, i: jnp.argmax(logits, -1),
                 batch_size, max_length)


def sample(step_fn: StepFn, state, rng, *, batch_size: int, max_length: int,
           temperature: float = 1.0) -> jax.Array:
  """Tokens drawn from softmax(logits / temperature): int32 [batch_size, max_length].

  `state` has leading dim batch_size; step i draws with jax.random.fold_in(rng, i), so the
  same rng gives the same samples. temperature > 0; as it goes to 0 this becomes greedy.
  """
  _check_args(state, batch_size, max_length)
  if isinstance(temperature, (int, float)) and not temperature > 0:
    raise ValueError(f"sampling temperature must be > 0, got {temperature}")

  def choose(logits, i):
    return jax.random.categorical(jax.random.fold_in(rng, i), logits / temperature, axis=-1)

  return _decode(step_fn, state, choose, batch_size, max_length)


def _decode(step_fn, state, choose, batch_size, max_length):
  """Feeds each row its own choice until every row has emitted EOS or max_length tokens."""

  def cond(carry):
    i, _, _, done, _ = carry
    return (i < max_length) & ~jnp.all(done)

  def body(carry):
    i, tokens, state, done, ids = carry
    logits, state = step_fn(tokens, state)
    tokens = choose(_next_token_logits(logits, batch_size), i).astype(jnp.int32)
    ids = ids.at[:, i].set(jnp.where(done, PAD, tokens))
    return i + 1, tokens, state, done | (tokens == EOS), ids

  init = (jnp.int32(0), jnp.full((batch_size,), BOS, jnp.int32), state,
          jnp.zeros((batch_size,), bool), jnp.full((batch_size, max_length), PAD, jnp.int32))
  return lax.while_loop(cond, body, init)[-1]


def tile_beams(tree, beam_size: int):
  """Each leaf's rows repeated beam_size times (jnp.repeat on axis 0): [B, ...] -> [B*K, ...].

  Rows b*K .. b*K+K-1 belong to example b: the layout beam_search gives its state, and the
  one that per-example constants closed over by its step_fn must have.
  """
  return jax.tree.map(lambda x: jnp.repeat(x, beam_size, axis=0), tree)


def length_penalty(length, alpha: float):
  """GNMT length penalty ((5 + length) / 6) ** alpha (Wu et al. 2016); length counts EOS."""
  return ((5.0 + jnp.asarray(length, jnp.float32)) / 6.0) ** alpha


class _Beams(NamedTuple):
  """Beam search's loop state after `length` steps; B examples, K beams, T = max_length."""
  length: jax.Array           # int32 []: tokens emitted by every alive hypothesis
  alive_ids: jax.Array        # int32 [B, K, T], PAD from `length` on
  alive_log_probs: jax.Array  # float32 [B, K], best first
  alive_state: Any            # leading dim B*K, row b*K + k is alive_ids[b, k]'s
  finished_ids: jax.Array     # int32 [B, K, T]
  finished_scores: jax.Array  # float32 [B, K], best first; NEG_INF where not finished
  finished: jax.Array         # bool [B, K]: whether the slot holds a finished hypothesis


def beam_search(step_fn: StepFn, state, *, batch_size: int, beam_size: int, max_length: int,
                alpha: float = 0.6) -> tuple[jax.Array, jax.Array]:
  """The beam_size best hypotheses per example, best first.

  Returns
    ids:    int32 [batch_size, beam_size, max_length]
    scores: float32 [batch_size, beam_size]: sum of the tokens' log_softmax(logits), EOS
            included, divided by length_penalty(length, alpha); alpha=0 gives the log-prob.

  `state` has leading dim batch_size; beam_search tiles it with tile_beams, so step_fn gets
  N = batch_size * beam_size rows, rows b*K .. b*K+K-1 being example b's beams. Constants
  that step_fn closes over must be tiled the same way (tile_beams(memory, beam_size)); they
  need no reordering later, since beams are only ever reordered within their example.

  At each step the alive beams' 2K best continuations are ranked. One ending in EOS finishes
  its hypothesis if it ranks in the top K (as in fairseq, so beam_size=1 is greedy decoding);
  the K best others stay alive. At max_length, the top K are ended as they are, without EOS,
  and compete with the finished ones. The search stops early, per batch, once every example
  holds K finished hypotheses and none of its alive ones can beat the worst of them: a log-
  prob only falls as tokens are added, so an alive hypothesis scores at most its log-prob
  over the largest penalty still reachable (at max_length when alpha > 0).

  With fewer than 2K tokens besides PAD and BOS, an example can run out of distinct
  hypotheses; the rows that fill its beam then score about NEG_INF or below.
  """
  _check_args(state, batch_size, max_length)
  if beam_size < 1:
    raise ValueError(f"beam_size must be >= 1, got {beam_size}")
  b, k, t = batch_size, beam_size, max_length
  examples = jnp.arange(b)[:, None]

  def gather(x, index):  # x [B, M, ...], index [B, J] -> [B, J, ...]
    return x[examples, index]

  def cond(s: _Beams):
    best_alive = jnp.max(s.alive_log_probs, axis=1)
    bound = best_alive / jnp.maximum(length_penalty(s.length + 1, alpha),
                                     length_penalty(t, alpha))
    worst_finished = jnp.min(s.finished_scores, axis=1)
    done = jnp.all(s.finished, axis=1) & (worst_finished >= bound)
    return (s.length < t) & ~jnp.all(done)

  def body(s: _Beams):
    tokens = s.alive_ids[:, :, jnp.maximum(s.length - 1, 0)]
    tokens = jnp.where(s.length == 0, BOS, tokens).reshape(b * k)
    logits, new_state = step_fn(tokens, s.alive_state)
    logits = _next_token_logits(logits, b * k)
    vocab_size = logits.shape[-1]
    token_log_probs = jnp.maximum(jax.nn.log_softmax(logits), NEG_INF)
    log_probs = s.alive_log_probs[:, :, None] + token_log_probs.reshape(b, k, vocab_size)
    log_probs = log_probs.reshape(b, k * vocab_size)

    # The 2K best continuations hold at least K that do not end in EOS (one EOS per beam).
    top_log_probs, top = lax.top_k(log_probs, 2 * k)
    top_beams = top // vocab_size
    top_tokens = (top % vocab_size).astype(jnp.int32)
    top_ids = gather(s.alive_ids, top_beams).at[:, :, s.length].set(top_tokens)
    is_eos = top_tokens == EOS
    ends = (jnp.arange(2 * k) < k) & (is_eos | (s.length + 1 == t))

    # -inf only ranks here, never enters arithmetic.
    _, keep = lax.top_k(jnp.where(is_eos, -jnp.inf, top_log_probs), k)
    rows = (examples * k + gather(top_beams, keep)).reshape(b * k)
    alive_state = jax.tree.map(lambda x: x[rows], new_state)

    top_scores = top_log_probs / length_penalty(s.length + 1, alpha)
    all_ids = jnp.concatenate([s.finished_ids, top_ids], axis=1)
    all_scores = jnp.concatenate([s.finished_scores, jnp.where(ends, top_scores, NEG_INF)], 1)
    all_finished = jnp.concatenate([s.finished, ends], axis=1)
    # Older hypotheses come first, so a tie never replaces one (early stopping relies on it).
    _, best = lax.top_k(jnp.where(all_finished, all_scores, -jnp.inf), k)
    return _Beams(s.length + 1, gather(top_ids, keep), gather(top_log_probs, keep), alive_state,
                  gather(all_ids, best), gather(all_scores, best), gather(all_finished, best))

  # The K beams start identical, so only the first may expand at the first step.
  first = jnp.where(jnp.arange(k) == 0, 0.0, NEG_INF)
  init = _Beams(
      length=jnp.int32(0),
      alive_ids=jnp.full((b, k, t), PAD, jnp.int32),
      alive_log_probs=jnp.broadcast_to(first, (b, k)).astype(jnp.float32),
      alive_state=tile_beams(state, k),
      finished_ids=jnp.full((b, k, t), PAD, jnp.int32),
      finished_scores=jnp.full((b, k), NEG_INF, jnp.float32),
      finished=jnp.zeros((b, k), bool))
  # The last step ends the top K hypotheses, so every slot is finished once the loop stops.
  s = lax.while_loop(cond, body, init)
  return s.finished_ids, s.finished_scores


def _check_args(state, batch_size, max_length):
  if max_length < 1:
    raise ValueError(f"max_length must be >= 1, got {max_length}")
  for leaf in jax.tree.leaves(state):
    if jnp.ndim(leaf) == 0 or jnp.shape(leaf)[0] != batch_size:
      raise ValueError(f"every state array must have leading dim batch_size={batch_size}, "
                       f"got one of shape {jnp.shape(leaf)}")


def _next_token_logits(logits, rows):
  """float32 logits with PAD and BOS masked: PAD only marks the end, BOS only the start."""
  if logits.ndim != 2 or logits.shape[0] != rows:
    raise ValueError(f"step_fn must return logits of shape [{rows}, vocab_size], "
                     f"got {logits.shape}")
  return logits.astype(jnp.float32).at[:, (PAD, BOS)].set(NEG_INF)
