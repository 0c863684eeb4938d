"""Reversing words of 1..6 letters with a small attention model (a toy task outside s2s).

  PYTHONPATH=tests:. python -m s2s.train --config tests/toy_tasks/reverse_config.py \
      --workdir runs/reverse
  PYTHONPATH=tests:. python scripts/launch.py --config tests/toy_tasks/reverse_config.py \
      --sweep seeds --workdir runs/reverse_sweep
"""

from s2s import config as config_lib
from s2s.sweeps import axis, seeds, zip_

from toy_tasks import reverse


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, num_examples=1000, steps=200)
  config = config_lib.base_config()
  config.task = reverse.defaults()
  config.task.num_examples = arg.num_examples
  config.model.name = "encoder_decoder"
  config.model.attention = "luong"
  config.model.embed_dim = 16
  config.model.hidden_size = 64
  config.learning_rate = 1e-2
  config.grad_clip_norm = 1.0
  config.warmup_steps = 20
  config.num_steps = arg.steps
  config.batch_size = 32
  config.eval_batch_size = 100
  config.eval_every_steps = 100
  config.log_every_steps = 50
  config.num_samples = 3
  config.num_attention_plots = 0
  return config


# Two short runs of the same model (a constant rate: the same compiled programs whatever the
# steps, so a sweep's runs share them through the compilation cache).
SWEEPS = {"seeds": zip_(seeds(2), axis("num_steps", [20, 20]))}
