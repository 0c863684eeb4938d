"""Reversing words: 'hello' in, 'olleh' out, character by character.

A task written the way a researcher outside s2s would write one: this file and a config
(reverse_config.py) are all it takes; nothing in s2s names it. Words of 1..max_letters
letters of `alphabet` are drawn at random (distinct, seeded) and split 80/10/10 into
train/validation/test, prepared once as a TFDS dataset of records {'query': 'hello',
'answer': 'olleh'}.
"""

import hashlib
import random

import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from s2s import config as config_lib
from s2s import dataset
from s2s import vocab as vocab_lib
from s2s.config import Rule
from s2s.errors import UserError
from s2s.tasks import _text

RULES = {
    "task.alphabet": Rule(str),  # Distinct lowercase letters: check().
    "task.max_letters": Rule(int, min=1, max=32),
    "task.num_examples": Rule(int, min=10, why="train + validation + test words"),
    "task.seed": Rule(int, min=0),
}

METRICS = ("loss", "token_accuracy", "sequence_accuracy", "exact_match")

_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def defaults() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      "name": __name__, "alphabet": "abcdefghijklmnopqrstuvwxyz", "max_letters": 6,
      "num_examples": 1000, "seed": 0})


def shape(v) -> config_lib.Shape:
  vocab = len(vocab_lib.SPECIALS) + len(v["task.alphabet"])
  n = v["task.num_examples"]
  return config_lib.Shape(examples=n, train_examples=round(n * _FRACTIONS["train"]),
                          source_length=v["task.max_letters"],
                          target_length=v["task.max_letters"] + 1,
                          source_vocab=vocab, target_vocab=vocab)


def check(c):
  """What RULES cannot say: the alphabet is distinct lowercase letters, with enough words."""
  if not c.alphabet or not c.alphabet.isalpha() or not c.alphabet.islower():
    raise UserError(f"config.task.alphabet must be lowercase letters, got {c.alphabet!r}")
  if len(set(c.alphabet)) != len(c.alphabet):
    raise UserError(f"config.task.alphabet repeats a letter: {c.alphabet!r}")
  words = sum(len(c.alphabet) ** n for n in range(1, c.max_letters + 1))
  if c.num_examples > words:
    raise UserError(f"config.task.num_examples={c.num_examples} exceeds the {words} words of "
                    f"at most {c.max_letters} letters of {c.alphabet!r}")


def draw_words(c) -> list[str]:
  """num_examples distinct words, their lengths uniform in 1..max_letters where there are
  enough words of a length (few of 1 letter)."""
  rng = random.Random(c.seed)
  words, seen = [], set()
  while len(words) < c.num_examples:
    word = "".join(rng.choice(c.alphabet) for _ in range(rng.randint(1, c.max_letters)))
    if word not in seen:
      seen.add(word)
      words.append(word)
  return words


class ReverseWordsConfig(tfds.core.BuilderConfig):

  def __init__(self, task_config):
    alphabet = hashlib.sha256(task_config.alphabet.encode()).hexdigest()[:8]
    super().__init__(name=f"l{task_config.max_letters}_n{task_config.num_examples}_a{alphabet}"
                          f"_s{task_config.seed}", description="words and their reversals")
    self.task_config = task_config


class ReverseWords(tfds.core.GeneratorBasedBuilder):
  """Words and their reversals: {'query': 'hello', 'answer': 'olleh'}."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__,
        features=tfds.features.FeaturesDict(
            {"query": tfds.features.Text(), "answer": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    words = draw_words(self.builder_config.task_config)
    bounds = np.cumsum([0] + [round(len(words) * f) for f in _FRACTIONS.values()])
    bounds[-1] = len(words)
    return {name: self._generate_examples(words[start:stop])
            for name, start, stop in zip(_FRACTIONS, bounds[:-1], bounds[1:])}

  def _generate_examples(self, words):
    for i, word in enumerate(words):
      yield i, {"query": word, "answer": word[::-1]}


def load(task_config, data_dir: str = "") -> dict:
  return dataset.prepare(
      lambda: ReverseWords(config=ReverseWordsConfig(task_config),
                           data_dir=dataset.data_dir(data_dir), file_format="array_record"),
      data_dir)


def build(config, workdir=None, sources=None) -> "Task":
  """Nothing is learned from the data: one character vocabulary, lengths from the config."""
  del workdir, sources
  vocab = vocab_lib.CharVocab(config.task.alphabet)
  return Task(vocab, vocab, config.task.max_letters, config.task.max_letters + 1, reverse=False)


class Task(_text.TextTask):
  """A word in, the word reversed out."""

  UNIT = "letters"

  def text_metrics(self, hypotheses, references, final: bool = False) -> dict:
    return {"exact_match": float(np.mean([h == r for h, r in zip(hypotheses, references)]))}
