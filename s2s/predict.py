"""Answers of a trained model, from its workdir's latest checkpoint; the task comes from the
run's config.

  python -m s2s.predict --workdir runs/addition 12+345 "7+8"
  printf '12+345\n7+8\n' | python -m s2s.predict --workdir runs/addition
  python -m s2s.predict --workdir runs/translation --beam 5 --alpha 0.6 "Where is the file?"

Prints one line per query: the query, a tab, the answer (greedy unless --beam or
--temperature says otherwise; encoder_decoder models only for those two).
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging
import jax
import ml_collections
import numpy as np

from s2s import checkpoints
from s2s import cli
from s2s import evaluation
from s2s import inference
from s2s import reporting
from s2s import tasks
from s2s import workdir as workdir_lib
from s2s.errors import UserError, exit_on_user_error


class Predictor:
  """Answers of the model trained in `workdir`: greedy, beam search or sampled."""

  def __init__(self, workdir: str, *, beam: int = 1, alpha: float = 0.6,
               temperature: float = 0.0, seed: int = 0):
    self.config = ml_collections.ConfigDict(workdir_lib.read_config(workdir))
    if beam < 1:
      raise UserError(f"--beam must be at least 1, got {beam}")
    if temperature < 0:
      raise UserError(f"--temperature must not be negative, got {temperature}")
    if beam > 1 and temperature > 0:
      raise UserError("choose --beam or --temperature, not both")
    self.task, self.model = tasks.build(self.config, workdir)
    if (beam > 1 or temperature > 0) and not self.model.STEPWISE:
      raise UserError(f"--beam and --temperature need a model that decodes step by step; "
                      f"config.model.name={self.config.model.name!r} is greedy only")
    self.params, self.step = checkpoints.restore_params(workdir)
    self._decode = inference.make_decoder(self.model, max_length=self.task.target_length,
                                          beam_size=beam, alpha=alpha, temperature=temperature)
    self._rng = jax.random.PRNGKey(seed)

  def _inputs(self, queries) -> dict:
    """Queries that are questions of the task -> a batch of input arrays; any other query is
    refused (a UserError naming it) rather than answered."""
    examples = [self.task.parse_query(q) for q in queries]
    return {k: np.stack([ex[k] for ex in examples]) for k in examples[0]}

  def __call__(self, queries: list[str]) -> list[str]:
    ids = jax.device_get(self._decode(self.params, self._inputs(queries), self._rng))
    return [self.task.decode(row) for row in ids]

  def plot_attention(self, queries: list[str], directory: str) -> list[str]:
    """Heatmaps of the greedy answer's attention, one PNG per query; their paths."""
    if self.config.model.get("attention", "none") == "none":
      raise UserError("--plot_attention needs a model trained with attention "
                      f"(this one has config.model.attention={self.config.model.get('attention', 'none')!r})")
    inputs = self._inputs(queries)
    ids, weights = inference.attention_weights(self.model, self.params, inputs,
                                               self.task.target_length)
    paths = []
    for i in range(len(queries)):
      source = evaluation.attention_source(self.task, {k: v[i] for k, v in inputs.items()})
      if source is None:
        raise UserError("--plot_attention needs inputs to draw attention over; this model "
                        "reads precomputed features")
      paths.append(os.path.join(directory, f"query_{i + 1}.png"))
      reporting.plot_attention(paths[-1], source, self.task.target_pieces(ids[i]), weights[i],
                               queries[i])
    return paths


FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("workdir", None, "A workdir written by s2s.train.")
  flags.DEFINE_integer("beam", 1, "Beam size (1 = greedy).")
  flags.DEFINE_float("alpha", 0.6, "GNMT length penalty of beam search (0 = none).")
  flags.DEFINE_float("temperature", 0.0, "Sample at this temperature instead (0 = off).")
  flags.DEFINE_integer("seed", 0, "Sampling seed.")
  flags.DEFINE_string("plot_attention", None,
                      "Attention models: write a heatmap per query (greedy) to this directory.")


def check_workdir(workdir):
  if not workdir:
    raise UserError("--workdir is required: the directory s2s.train wrote")
  if not os.path.exists(workdir):
    raise UserError(f"--workdir {workdir!r} does not exist")
  if not os.path.isdir(workdir):
    raise UserError(f"--workdir {workdir!r} is not a directory")


def predict(workdir, queries):
  check_workdir(workdir)  # Before reading stdin, which could wait for ever.
  if not queries:
    queries = [line.rstrip("\n") for line in sys.stdin if line.strip()]
  if not queries:
    raise UserError("no queries: pass them as arguments or one per line on stdin")
  for query in queries:
    if not query.strip():
      raise UserError("a query is empty")
  predictor = Predictor(workdir, beam=FLAGS.beam, alpha=FLAGS.alpha,
                        temperature=FLAGS.temperature, seed=FLAGS.seed)
  for query, answer in zip(queries, predictor(queries)):
    print(f"{query}\t{answer}")
  if FLAGS.plot_attention:
    for i, path in enumerate(predictor.plot_attention(queries, FLAGS.plot_attention)):
      print(f"attention heatmap of query {i + 1}: {path}", file=sys.stderr)


def main(argv):
  logging.set_verbosity(logging.WARNING)
  checkpoints.report_failures_once()
  exit_on_user_error(predict, FLAGS.workdir, argv[1:])


if __name__ == "__main__":
  define_flags()
  app.run(main, flags_parser=cli.parse_flags)
