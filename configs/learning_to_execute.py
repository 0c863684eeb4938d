"""Learning to Execute (Zaremba & Sutskever 2014): 9-digit addition, with and without a
curriculum. A question's level is its longest operand's digit count (1..9); training questions
are drawn fresh each step at the levels the curriculum picks (s2s/curriculum.py), never one of
the validation or test questions; validation and test have every level equally often (the
`levels` sampler), so naive's signal, the validation accuracy of its level, exists at each.
The dataset's train split is drawn too but not trained on (it sets what an epoch is). The
levels sampler puts at most half of a level's questions in the dataset (one-digit sums: 55),
so the small levels keep questions to train on.

  python -m s2s.train --config configs/learning_to_execute.py:curriculum=combined --workdir ...

Sweep (`python scripts/launch.py --config configs/learning_to_execute.py --sweep curricula
--workdir runs/learning_to_execute`; experiments/learning_to_execute/ holds its results):
  curricula  baseline, naive, mix, combined at one budget (4 runs)
The paper's target is the test questions of level 9: the `longest_operand` slice "9".
"""

from s2s import config as config_lib
from s2s.sweeps import axis


def get_config(arg=None):
  arg = config_lib.parse_arg(arg, digits=9, curriculum="combined", steps=8000, hidden_size=256)
  config = config_lib.base_config()
  config.task.digits = arg.digits
  config.task.ops = "+"
  config.task.reverse = True
  config.task.sampler = "levels"  # Validation and test: every level as often.
  config.task.curriculum = arg.curriculum
  config.task.num_examples = 4_000  # Half validation; training draws its own questions.
  config.task.val_fraction = 0.5
  config.task.num_test = 9_000  # About 1,000 of the target level.
  config.task.check_small_operands = False
  config.model.name = "encoder_decoder"
  config.model.hidden_size = arg.hidden_size
  config.model.embed_dim = 32
  config.batch_size = 128
  config.eval_batch_size = 1000
  config.schedule = "cosine"
  config.learning_rate = 3e-3
  config.warmup_steps = 200
  config.grad_clip_norm = 1.0
  config.num_steps = arg.steps
  config.eval_every_steps = 200
  config.log_every_steps = 200
  config.checkpoint_every_steps = 400
  config.num_samples = 0
  return config


SWEEPS = {"curricula": axis("task.curriculum", ["baseline", "naive", "mix", "combined"])}
