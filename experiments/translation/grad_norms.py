"""Gradient norms of a trained run's loss, batch by batch: with batches padded to the longest
example, and cut into length buckets. What the clipping bound (config.grad_clip_norm) does to
each kind of batch.

  python experiments/translation/grad_norms.py --workdir runs/translation --buckets 3
      [--batches 300] [--bound 1.0] [--data_dir DIR]

The gradient is train_step's own (dropout on, the loss over the global batch's tokens: a
padded batch divided by its real tokens, a bucketed one by the fixed count), at the run's
latest checkpoint, over the first --batches training batches of each kind (seed --seed).
A row per batch shape: how many batches, their mean real target tokens, the mean gradient
norm, and the share of batches over the bound, fixed and scaled by the batch's token share
(what s2s clips with since 2026-12-06; see train.clip_by_global_norm).
"""

import argparse
import functools
import os
import sys

import flax.jax_utils
import ml_collections
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from s2s import checkpoints  # noqa: E402
from s2s import dataset  # noqa: E402
from s2s import input_pipeline  # noqa: E402
from s2s import tasks  # noqa: E402
from s2s import train  # noqa: E402
from s2s import workdir as workdir_lib  # noqa: E402
from s2s.errors import UserError, exit_on_user_error  # noqa: E402
from s2s.vocab import PAD  # noqa: E402


def norms(config, workdir, data_dir, buckets: int, count: int, seed: int,
          bound: float) -> list[dict]:
  """[{target_length, batches, tokens, norm, over_fixed, over_scaled}] of `count` batches,
  a row per batch shape; `over_*`: the share of batches over `bound`, fixed or scaled."""
  sources = dataset.load(config.task, data_dir)
  task, model = tasks.build(config, workdir, sources)
  params, _ = checkpoints.restore_params(workdir)
  config = config.copy_and_resolve_references()
  config.length_buckets, config.seed = buckets, seed
  data = input_pipeline.hold(sources["train"], task, range(len(sources["train"])),
                             config.data_memory_mb)
  batches = input_pipeline.training_batches(data, task, config)
  tx = optax.sgd(1.0)  # One step's update is minus the gradient.
  state = flax.jax_utils.replicate(train.TrainState(
      step=jnp.array(0, jnp.int32), params=params, opt_state=tx.init(params),
      rng=jax.random.PRNGKey(seed), tx=tx))
  step = jax.pmap(functools.partial(train.train_step, model=model), axis_name=train.AXIS)
  norm = jax.jit(lambda new, old: optax.tree.norm(jax.tree.map(jnp.subtract, new, old)))
  rows = {}
  for _ in range(count):
    batch = next(batches)
    tokens = float(np.sum(batch["targets"] != PAD))
    share = tokens / float(np.sum(batch["loss_tokens"])) if "loss_tokens" in batch else 1.0
    new, _ = step(state, input_pipeline.shard(batch))
    g = float(norm(jax.tree.map(lambda x: x[0], new.params), params))
    rows.setdefault(batch["targets"].shape[1], []).append((tokens, g, share))
  out = []
  for length, r in sorted(rows.items()):
    tokens, g, share = map(np.array, zip(*r))
    out.append({"target_length": length, "batches": len(r), "tokens": tokens.mean(),
                "norm": g.mean(), "over_fixed": np.mean(g > bound),
                "over_scaled": np.mean(g > bound * share)})
  return out


def main(args):
  if not os.path.isdir(args.workdir):
    raise UserError(f"--workdir {args.workdir!r} is not a directory")
  config = ml_collections.ConfigDict(workdir_lib.read_config(args.workdir))
  if args.buckets < 1 or args.batches < 1:
    raise UserError(f"--buckets and --batches must be at least 1, got {args.buckets} and "
                    f"{args.batches}")
  bound = args.bound if args.bound is not None else config.grad_clip_norm
  if bound <= 0:
    raise UserError(f"the run clips no gradients (config.grad_clip_norm={bound}); give --bound")
  print(f"gradient norms at {args.workdir}'s latest checkpoint, {args.batches} batches of "
        f"each kind; bound {bound}")
  print("| batches | target length | count | real target tokens | mean gradient norm "
        "| over the fixed bound | over the bound x token share |")
  print("|---|---|---|---|---|---|---|")
  for buckets, name in ((0, "padded"), (args.buckets, f"{args.buckets} buckets")):
    for r in norms(config, args.workdir, args.data_dir, buckets, args.batches, args.seed,
                   bound):
      print(f"| {name} | {r['target_length']} | {r['batches']} | {r['tokens']:.0f} | "
            f"{r['norm']:.3f} | {r['over_fixed']:.0%} | {r['over_scaled']:.0%} |")


if __name__ == "__main__":
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--workdir", required=True, help="A trained run's workdir.")
  parser.add_argument("--buckets", type=int, default=3)
  parser.add_argument("--batches", type=int, default=300)
  parser.add_argument("--seed", type=int, default=1)
  parser.add_argument("--bound", type=float, default=None,
                      help="The clipping bound (default: the run's config.grad_clip_norm).")
  parser.add_argument("--data_dir", default="", help="Where the run's dataset is prepared.")
  exit_on_user_error(main, parser.parse_args())
