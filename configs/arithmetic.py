"""The lecture's arithmetic: + and - with up to 5 digits, Sutskever/Cho encoder-decoder.

  python -m s2s.train --config configs/arithmetic.py --workdir runs/arithmetic
  python -m s2s.train --config configs/arithmetic.py:digits=4,ops=+-*,model=repeat --workdir ...

Negative answers are allowed (`12-345` = `-333`). The default (200,000 questions, 20 epochs)
reaches test sequence_accuracy 0.9937 (see the README's results).

Sweeps (`python scripts/launch.py --config configs/arithmetic.py --sweep NAME --workdir DIR`):
  ablation     reverse x bidirectional x layers {1,2} x hidden {64,128,256} x 3 seeds (72 runs)
  keras_table  the Keras addition_rnn table, with this file's training recipe set back to Keras's
"""

from s2s import config as config_lib
from s2s.sweeps import axis, product, seeds, zip_


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


def ablation():
  """Which of the Sutskever/Cho choices matter on +/- arithmetic: 2 x 2 x 2 x 3 x 3 seeds."""
  return product({"task.reverse": [True, False], "model.bidirectional": [False, True]},
                 zip_(axis("model.encoder_layers", [1, 2]), axis("model.decoder_layers", [1, 2])),
                 axis("model.hidden_size", [64, 128, 256]),
                 seeds(3))


def keras_table():
  """The Keras addition_rnn table (configs/addition.py), this file's recipe reset to Keras's."""
  keras_recipe = {"task.ops": ["+"], "model.name": ["repeat"], "model.embed_dim": [0],
                  "batch_size": [32], "eval_batch_size": [1000], "learning_rate": [1e-3],
                  "warmup_steps": [0], "grad_clip_norm": [0.0], "schedule": ["constant"],
                  "task.reverse": [True], "model.hidden_size": [128],
                  "model.encoder_layers": [1], "model.decoder_layers": [1],
                  "stop_at": ["padded_char_accuracy>=0.99"]}
  return product(
      seeds(3),
      zip_(axis("task.digits", [2, 3, 4, 5]),
           axis("task.num_examples", [5_000, 50_000, 400_000, 550_000]),
           axis("task.num_test", [30, 5_000, 5_000, 5_000]),
           axis("num_epochs", [200.0, 200.0, 40.0, 60.0])),
      keras_recipe)


SWEEPS = {"ablation": ablation(), "keras_table": keras_table()}
