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
from s2s import models


def make_decoder(model, *, max_length: int, beam_size: int = 1, alpha: float = 0.6,
                 temperature: float = 0.0):
  """A jitted fn(params, inputs [B, L], lengths [B], rng=None) -> ids int32 [B, max_length].

  The ids are the answer's tokens, EOS, then PAD. The repeat model has no step-by-step
  decoder (its decoder never reads its own outputs): greedy only.
  """
  if not isinstance(model, models.EncoderDecoder):
    if beam_size > 1 or temperature > 0:
      raise ValueError("beam search and sampling need the encoder_decoder model")

    def repeat(params, inputs, lengths, rng=None):
      del rng
      targets = jnp.zeros((inputs.shape[0], max_length), jnp.int32)
      logits = model.apply({"params": params}, inputs, lengths, targets, greedy=True)
      return metrics_lib.finalize_predictions(jnp.argmax(logits, -1).astype(jnp.int32))

    return jax.jit(repeat)

  def decode(params, inputs, lengths, rng=None):
    batch = inputs.shape[0]
    carry, *constants = model.apply({"params": params}, inputs, lengths, method=model.encode)
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


def decode_all(decode_fn, params, inputs, lengths, batch_size: int) -> np.ndarray:
  """decode_fn over host arrays in batches of batch_size (the last one padded): ids [N, T]."""
  n = len(inputs)
  out = []
  for start in range(0, n, batch_size):
    x, l = inputs[start:start + batch_size], lengths[start:start + batch_size]
    pad = batch_size - len(x)
    if pad:  # One shape, one compilation.
      x = np.concatenate([x, np.repeat(x[:1], pad, 0)])
      l = np.concatenate([l, np.repeat(l[:1], pad, 0)])
    out.append(np.asarray(decode_fn(params, x, l))[:batch_size - pad])
  return np.concatenate(out)


def attention_weights(model, params, inputs, lengths, target_length: int):
  """Greedy predictions [B, T] and the attention weights [B, T, L] that produced them."""
  ids, weights = _attention_weights(model, params, inputs, lengths, target_length)
  return np.asarray(ids), np.asarray(weights)


# Jitted: run op by op, the decoder's scan alone compiles a dozen small programs (seconds).
@functools.partial(jax.jit, static_argnames=("model", "target_length"))
def _attention_weights(model, params, inputs, lengths, target_length):
  targets = jnp.zeros((inputs.shape[0], target_length), jnp.int32)
  logits, weights = model.apply({"params": params}, inputs, lengths, targets, greedy=True,
                                return_attention=True)
  return metrics_lib.finalize_predictions(jnp.argmax(logits, -1).astype(jnp.int32)), weights
