"""A trained model's outputs for new inputs: decoded ids (greedy, beam, sampled) and attention.

`make_decoder` binds a model to the model-agnostic search of s2s.decoding; training's final
evaluation and s2s.predict both decode through it.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from s2s import decoding
from s2s import metrics as metrics_lib


def make_decoder(model, *, max_length: int, beam_size: int = 1, alpha: float = 0.6,
                 temperature: float = 0.0):
  """A jitted fn(params, inputs, rng=None) -> ids int32 [B, max_length], `inputs` a batch
  dict of the model's input arrays (the task's input keys; no targets).

  The ids are the answer's tokens, EOS, then PAD. A model that does not decode step by
  step (`model.STEPWISE` false: the repeat model, whose decoder never reads its own
  outputs) is greedy only.
  """
  if not model.STEPWISE:
    if beam_size > 1 or temperature > 0:
      raise ValueError("beam search and sampling need a model that decodes step by step")

    def whole(params, inputs, rng=None):
      del rng
      rows = len(jax.tree.leaves(inputs)[0])
      targets = jnp.zeros((rows, max_length), jnp.int32)
      logits = model.apply({"params": params}, inputs | {"targets": targets},
                           teacher_force=False)
      return metrics_lib.finalize_predictions(jnp.argmax(logits, -1).astype(jnp.int32))

    return jax.jit(whole)

  def decode(params, inputs, rng=None):
    batch = len(jax.tree.leaves(inputs)[0])
    carry, *constants = model.apply({"params": params}, inputs, method=model.encode)
    if beam_size > 1:
      constants = decoding.tile_beams(constants, beam_size)

    def step(tokens, carry):
      carry, logits, _ = model.apply({"params": params}, carry, tokens, *constants,
                                     method=model.decode_step)
      return logits, carry

    if beam_size > 1:
      ids, _ = decoding.beam_search(step, carry, batch_size=batch, beam_size=beam_size,
                                    max_length=max_length, alpha=alpha)
      return ids[:, 0]
    if temperature > 0:
      return decoding.sample(step, carry, rng, batch_size=batch, max_length=max_length,
                             temperature=temperature)
    return decoding.greedy(step, carry, batch_size=batch, max_length=max_length)

  return jax.jit(decode)


def attention_weights(model, params, inputs: dict, target_length: int):
  """Greedy predictions [B, T] and the attention weights [B, T, L] that produced them, for a
  dict of input arrays."""
  ids, weights = _attention_weights(model, params, inputs, target_length)
  return np.asarray(ids), np.asarray(weights)


# Jitted: run op by op, the decoder's scan alone compiles a dozen small programs (seconds).
@functools.partial(jax.jit, static_argnames=("model", "target_length"))
def _attention_weights(model, params, inputs, target_length):
  rows = len(jax.tree.leaves(inputs)[0])
  targets = jnp.zeros((rows, target_length), jnp.int32)
  logits, weights = model.apply({"params": params}, inputs | {"targets": targets},
                                teacher_force=False, return_attention=True)
  return metrics_lib.finalize_predictions(jnp.argmax(logits, -1).astype(jnp.int32)), weights
