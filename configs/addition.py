"""The Keras addition_rnn recipe: 3-digit addition, reversed queries, one LSTM of 128.

  python -m s2s.train --config configs/addition.py --workdir runs/addition
  python -m s2s.train --config configs/addition.py:digits=2,reverse=False --workdir runs/a2

50,000 distinct questions split 45,000/5,000 into train/validation as in Keras,
plus 5,000 more for a test split.
"""

from s2s import config as config_lib


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, digits=3, ops="+", reverse=True, model="repeat",
                             num_examples=50_000, epochs=20.0)
  config = config_lib.base_config()
  config.task.digits = arg.digits
  config.task.ops = arg.ops
  config.task.reverse = arg.reverse
  config.task.num_examples = arg.num_examples
  config.task.num_test = arg.num_examples // 10
  config.model.name = arg.model
  # Keras keeps Adam at 1e-3; with a constant rate validation accuracy swings by
  # several points between epochs, so the final figure would be luck. Cosine
  # decay from the same 1e-3 ends on a stable, better model.
  config.schedule = "cosine"
  config.num_epochs = arg.epochs
  return config
