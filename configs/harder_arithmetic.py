"""Harder arithmetic: more operators, more terms, parentheses, for three architectures at
one budget, with accuracy by slice (carries, operand lengths, ...) and questions with
operands one and two digits longer than any seen in training.

  python -m s2s.train --config configs/harder_arithmetic.py:ops=+-*,num_terms=3 --workdir ...

Sweep (`python scripts/launch.py --config configs/harder_arithmetic.py --sweep table
--workdir runs/harder_arithmetic`; experiments/harder_arithmetic/ holds its results):
  table  operators {+, +-, *, +-*} x (2 terms, 3 terms, 3 terms with parentheses)
         x {repeat, encoder_decoder, encoder_decoder + Bahdanau attention}: 36 runs
"""

from s2s import config as config_lib
from s2s.sweeps import axis, product

_ARCHITECTURES = [{"model.name": "repeat", "model.attention": "none"},
                  {"model.name": "encoder_decoder", "model.attention": "none"},
                  {"model.name": "encoder_decoder", "model.attention": "bahdanau"}]


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, digits=3, ops="+", num_terms=2, parentheses=False,
                             model="encoder_decoder", steps=3000)
  config = config_lib.base_config()
  config.task.digits = arg.digits
  config.task.ops = arg.ops
  config.task.num_terms = arg.num_terms
  config.task.parentheses = arg.parentheses
  config.task.reverse = True
  config.task.num_examples = 50_000
  config.task.num_test = 5_000
  # Operands of up to digits + 2 digits (at least one longer than in training): the
  # longest_operand slices of this split are the train-on-d, test-on-d+1 and d+2 results.
  config.task.num_length_generalization = 2_000
  config.task.length_generalization_digits = arg.digits + 2
  config.model.name = arg.model
  config.model.hidden_size = 128
  config.model.embed_dim = 32
  config.batch_size = 128
  config.eval_batch_size = 1000
  config.schedule = "cosine"
  config.learning_rate = 3e-3
  config.warmup_steps = 100
  config.grad_clip_norm = 1.0
  config.num_steps = arg.steps  # One budget for every run of the table.
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 500
  config.num_samples = 0
  config.num_attention_plots = 0
  return config


def table():
  """Operators x terms/parentheses x architecture, one seed each (36 runs)."""
  shapes = [{"task.num_terms": 2, "task.parentheses": False},
            {"task.num_terms": 3, "task.parentheses": False},
            {"task.num_terms": 3, "task.parentheses": True}]
  return product(axis("task.ops", ["+", "+-", "*", "+-*"]), shapes, _ARCHITECTURES)


SWEEPS = {"table": table()}
