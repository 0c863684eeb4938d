"""The lecture's arithmetic: + and - with up to 5 digits, Sutskever/Cho encoder-decoder.

  python -m s2s.train --config configs/arithmetic.py --workdir runs/arithmetic
  python -m s2s.train --config configs/arithmetic.py:digits=4,ops=+-*,model=repeat --workdir ...

Negative answers are allowed (`12-345` = `-333`).
"""

from s2s import config as config_lib


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, digits=5, ops="+-", num_terms=2, parentheses=False,
                             reverse=True, model="encoder_decoder", num_examples=200_000,
                             epochs=20.0, hidden_size=256)
  config = config_lib.base_config()
  config.task.digits = arg.digits
  config.task.ops = arg.ops
  config.task.num_terms = arg.num_terms
  config.task.parentheses = arg.parentheses
  config.task.reverse = arg.reverse
  config.task.num_examples = arg.num_examples
  config.task.num_test = 10_000
  config.model.name = arg.model
  config.model.hidden_size = arg.hidden_size
  config.model.embed_dim = 32
  config.batch_size = 128
  config.eval_batch_size = 2000
  config.schedule = "cosine"
  config.learning_rate = 3e-3
  config.warmup_steps = 500
  config.grad_clip_norm = 1.0
  config.num_epochs = arg.epochs
  return config
