"""Answers of a trained model, from its workdir's latest checkpoint.

  python -m s2s.predict --workdir runs/addition 12+345 "7+8"
  printf '12+345\n7+8\n' | python -m s2s.predict --workdir runs/addition

Prints one line per query: the query, a tab, the greedy answer.
"""

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from s2s import checkpoints
from s2s import metrics as metrics_lib
from s2s import train
from s2s.errors import UserError, exit_on_user_error


class Predictor:
  """Greedy answers of the model trained in `workdir`."""

  def __init__(self, workdir: str):
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
      raise UserError(f"workdir {workdir!r} holds no config.json: train a model there first")
    with open(path) as f:
      self.config = ml_collections.ConfigDict(json.load(f))
    self.encoder, self.model = train.build_task(self.config)
    self.params, self.step = checkpoints.restore_params(workdir)
    self._predict = jax.jit(self._predict_ids)

  def _predict_ids(self, params, inputs, lengths):
    targets = jnp.zeros((inputs.shape[0], self.encoder.target_length), jnp.int32)
    logits = self.model.apply({"params": params}, inputs, lengths, targets, greedy=True)
    return metrics_lib.finalize_predictions(jnp.argmax(logits, -1).astype(jnp.int32))

  def __call__(self, queries: list[str]) -> list[str]:
    queries = ["".join(q.split()) for q in queries]  # "12 + 345" reads as "12+345".
    encoded = [self.encoder.encode_query(q) for q in queries]
    inputs = np.stack([ids for ids, _ in encoded])
    lengths = np.array([n for _, n in encoded], np.int32)
    ids = jax.device_get(self._predict(self.params, inputs, lengths))
    return [self.encoder.vocab.decode(row) for row in ids]


FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("workdir", None, "A workdir written by s2s.train.")


def predict(workdir, queries):
  if not queries:
    queries = [line.strip() for line in sys.stdin if line.strip()]
  if not queries:
    raise UserError("no queries: pass them as arguments or one per line on stdin")
  if not workdir or not os.path.isdir(workdir):
    raise UserError(f"workdir {workdir!r} does not exist")
  predictor = Predictor(workdir)
  for query, answer in zip(queries, predictor(queries)):
    print(f"{query}\t{answer}")


def main(argv):
  logging.set_verbosity(logging.WARNING)
  exit_on_user_error(predict, FLAGS.workdir, argv[1:])


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=train.parse_flags)
