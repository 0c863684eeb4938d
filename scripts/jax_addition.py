"""The Keras addition_rnn recipe in plain JAX, written for speed alone: the floor that
`scripts/benchmark.py --peers` measures beside s2s and Keras 3 (variant `jax_floor`).

  python scripts/jax_addition.py --max_epochs 30 [--no-unroll]
      [--batch_size 32] [--hidden_size 128]   # Other sizes, as `benchmark.py --peers` passes.

The model and training are Keras's (scripts/keras_addition.py, on the same one-hot questions):
LSTM(128) -> RepeatVector(4) -> LSTM(128) -> Dense softmax, Keras's initialisers, categorical
cross-entropy averaged over the 4 answer positions, Adam 1e-3 (Keras's epsilon 1e-7), batch 32.
Everything that costs time and is not the recipe's arithmetic is left out:
- an epoch is one compiled program: the shuffled batches are gathered on the device and a
  `lax.scan` runs all 1,406 steps (the 8 questions of Keras's last, partial batch are dropped);
- the input projections of all 7 query steps are one matmul outside the recurrence, and the
  repeated decoder input is projected once for its 4 steps;
- validation is one forward pass over the 5,000 questions at once; no samples are printed, no
  checkpoint or metrics file is written.
Whatever per-epoch time this gets is what XLA on this machine gives the recipe's operations;
neither s2s nor Keras 3 on JAX can go much below it without leaving XLA.

Prints one JSON line per epoch on standard output, as scripts/keras_addition.py does: its
number, its seconds (training and validation), the validation per-character accuracy (padding
included, Keras's "accuracy"). Stops after the first epoch at or above --target.
"""

import argparse
import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jax  # pylint: disable=wrong-import-position
import jax.numpy as jnp  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import optax  # pylint: disable=wrong-import-position

import keras_addition  # pylint: disable=wrong-import-position


def init_params(rng, hidden=128, vocab=len(keras_addition.CHARS)) -> dict:
  """Keras's defaults: glorot-uniform kernels, orthogonal recurrent kernels, zero biases but
  the forget gate's (1). Gates in Keras's order: input, forget, cell, output."""
  keys = jax.random.split(rng, 5)
  glorot, orthogonal = jax.nn.initializers.glorot_uniform(), jax.nn.initializers.orthogonal()

  def lstm(k_kernel, k_recurrent, inputs):
    return {"kernel": glorot(k_kernel, (inputs, 4 * hidden)),
            "recurrent": orthogonal(k_recurrent, (hidden, 4 * hidden)),
            "bias": jnp.zeros(4 * hidden).at[hidden:2 * hidden].set(1.0)}

  return {"encoder": lstm(keys[0], keys[1], vocab), "decoder": lstm(keys[2], keys[3], hidden),
          "dense": {"kernel": glorot(keys[4], (hidden, vocab)), "bias": jnp.zeros(vocab)}}


def lstm(p, projected, unroll):
  """projected: [time, batch, 4 * hidden], the inputs already times the kernel plus the bias.
  Returns the hidden states [time, batch, hidden]."""
  hidden = p["recurrent"].shape[0]
  zeros = jnp.zeros((projected.shape[1], hidden), projected.dtype)

  def step(carry, x):
    h, c = carry
    i, f, g, o = jnp.split(x + h @ p["recurrent"], 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h, c), h

  _, hs = jax.lax.scan(step, (zeros, zeros), projected, unroll=unroll)
  return hs


def logits(params, x, unroll):
  """x: [batch, 7, 12] one-hot queries -> [batch, 4, 12] logits."""
  enc, dec = params["encoder"], params["decoder"]
  projected = jnp.einsum("btv,vg->tbg", x, enc["kernel"]) + enc["bias"]  # One matmul.
  summary = lstm(enc, projected, unroll)[-1]
  repeated = summary @ dec["kernel"] + dec["bias"]  # The same input at every answer step.
  hs = lstm(dec, jnp.broadcast_to(repeated, (keras_addition.ANSWER_LENGTH,) + repeated.shape),
            unroll)
  return jnp.einsum("tbh,hv->btv", hs, params["dense"]["kernel"]) + params["dense"]["bias"]


def loss_fn(params, x, y, unroll):
  return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits(params, x, unroll)), axis=-1))


@functools.partial(jax.jit, static_argnames=("optimizer", "unroll"), donate_argnums=(0, 1))
def train_epoch(params, opt_state, x, y, batches, *, optimizer, unroll):
  """One epoch: the `batches` (int32 indices, [steps, batch]) in order."""

  def step(carry, index):
    params, opt_state = carry
    grads = jax.grad(loss_fn)(params, x[index], y[index], unroll)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), opt_state), None

  (params, opt_state), _ = jax.lax.scan(step, (params, opt_state), batches)
  return params, opt_state


@functools.partial(jax.jit, static_argnames=("unroll",))
def char_accuracy(params, x, y, unroll):
  """Per-character accuracy, the padding's spaces included (Keras's "accuracy")."""
  return jnp.mean(logits(params, x, unroll).argmax(-1) == y.argmax(-1))


def main(argv):
  p = keras_addition.recipe_parser(__doc__)
  p.add_argument("--unroll", action=argparse.BooleanOptionalAction, default=True,
                 help="Unroll the recurrences: straight-line steps, no XLA while loop inside "
                      "the epoch's (measured a little faster, and it compiles faster).")
  args = p.parse_args(argv)
  splits = keras_addition.data(args.seed, args.num_examples)
  (x, y), (x_val, y_val) = [tuple(map(jnp.asarray, splits[s])) for s in ("train", "validation")]
  optimizer = optax.adam(1e-3, eps=1e-7)
  params = init_params(jax.random.PRNGKey(args.seed), args.hidden_size)
  opt_state = optimizer.init(params)
  rng = np.random.default_rng(args.seed)
  steps = len(x) // args.batch_size
  for epoch in range(1, args.max_epochs + 1):
    start = time.perf_counter()
    batches = rng.permutation(len(x))[:steps * args.batch_size].reshape(steps, -1)
    params, opt_state = train_epoch(params, opt_state, x, y, jnp.asarray(batches, jnp.int32),
                                    optimizer=optimizer, unroll=args.unroll)
    accuracy = float(char_accuracy(params, x_val, y_val, args.unroll))
    print(json.dumps({"epoch": epoch, "epoch_s": time.perf_counter() - start,
                      "val_char_accuracy": accuracy}), flush=True)
    if accuracy >= args.target:
      break


if __name__ == "__main__":
  main(sys.argv[1:])
