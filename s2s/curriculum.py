"""Curricula of Learning to Execute (Zaremba & Sutskever 2014, section 4) for arithmetic.

A question's *level* is its longest operand's digit count, 1..digits (the target). Each
training step draws a fresh batch of questions; each question's level comes from the strategy,
its operands uniform over the numbers of at most that many digits, at least one of exactly
that many (as the paper draws its numbers):

  baseline  every question at the target level (the paper's "no curriculum")
  naive     every question at the current level, which starts at 1 and moves up once the
            level's validation accuracy stops improving for `patience` evaluations (or
            reaches `threshold`)
  mix       a level uniform in 1..target for each question
  combined  each question from naive (its current level) or from mix, with equal odds

Batches are a function of (seed, step, current level) alone, and the state (step, level,
progress) is saved with each checkpoint, so a resumed run draws exactly the batches the
uninterrupted one would. No question of the validation or test splits is ever drawn.
"""

import random

import numpy as np
import jax

from s2s import arithmetic
from s2s.errors import RunFailed

STRATEGIES = ("baseline", "naive", "mix", "combined")
LEVEL_SLICE = "longest_operand"  # The slice family whose labels are the levels.
_MAX_REJECTS = 1000  # Draws in a row that are all held-out questions: the level is used up.


class Curriculum:
  """An endless, checkpointable iterator of this process's rows of each global batch
  (the task's encoded arrays), drawn by `strategy` (STRATEGIES) up to `grammar.digits`."""

  def __init__(self, strategy: str, grammar: arithmetic.ArithmeticTask, encode, *,
               batch_size: int, seed: int, held_out: set, patience: int = 2,
               threshold: float = 0.95):
    if strategy not in STRATEGIES:
      raise ValueError(f"unknown curriculum {strategy!r}")
    self.strategy, self.grammar, self.encode = strategy, grammar, encode
    self.batch_size, self.seed, self.held_out = batch_size, seed, held_out
    self.patience, self.threshold = patience, threshold
    self.step, self.level, self.best, self.stale = 0, 1, -1.0, 0

  @property
  def target(self) -> int:
    return self.grammar.digits

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    rng = random.Random(f"curriculum/{self.seed}/{self.step}")
    records = [self._question(rng, self._draw_level(rng)) for _ in range(self.batch_size)]
    share = self.batch_size // jax.process_count()
    mine = records[jax.process_index() * share:(jax.process_index() + 1) * share]
    self.step += 1
    examples = [self.encode(r) for r in mine]
    return {k: np.stack([ex[k] for ex in examples]) for k in examples[0]}

  def _draw_level(self, rng) -> int:
    if self.strategy == "baseline":
      return self.target
    if self.strategy == "naive" or (self.strategy == "combined" and rng.random() < 0.5):
      return self.level
    return rng.randint(1, self.target)

  def _question(self, rng, level: int) -> dict:
    for _ in range(_MAX_REJECTS):
      tree = arithmetic.random_question(rng, self.grammar, max_digits=level, min_longest=level,
                                        sampler="uniform")
      if arithmetic.canonical(tree) not in self.held_out:
        return {"query": arithmetic.render(tree, self.grammar.parentheses),
                "answer": str(arithmetic.evaluate(tree))}
    raise RunFailed(f"the curriculum drew {_MAX_REJECTS} level-{level} questions in a row that "
                    f"are all in the validation or test splits; lower config.task.num_examples "
                    f"or config.task.num_test")

  def observe(self, slices: dict):
    """Moves the naive level up from the validation split's slices (evaluation.slices)."""
    if self.strategy not in ("naive", "combined") or self.level >= self.target:
      return
    accuracy = slices.get(LEVEL_SLICE, {}).get(str(self.level), {}).get("sequence_accuracy")
    if accuracy is None:
      return  # The validation split has no question of this level: stay.
    if accuracy > self.best:
      self.best, self.stale = accuracy, 0
    else:
      self.stale += 1
    if accuracy >= self.threshold or self.stale >= self.patience:
      self.level, self.best, self.stale = self.level + 1, -1.0, 0

  def metrics(self) -> dict:
    """What to log beside the training loss: the level naive draws (baseline: the target;
    mix: none, every level)."""
    if self.strategy == "mix":
      return {}
    return {"curriculum_level": float(self.target if self.strategy == "baseline" else self.level)}

  def get_state(self) -> dict:
    return {"step": self.step, "level": self.level, "best": self.best, "stale": self.stale}

  def set_state(self, state: dict):
    self.step, self.level = int(state["step"]), int(state["level"])
    self.best, self.stale = float(state["best"]), int(state["stale"])
