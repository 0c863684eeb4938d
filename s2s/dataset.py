"""The arithmetic task as a TFDS dataset, prepared as array_record and read without TensorFlow."""

import logging
import os

import tensorflow_datasets as tfds

from s2s import arithmetic
from s2s.errors import UserError

_OP_NAMES = {"+": "add", "-": "sub", "*": "mul"}
SPLITS = ("train", "validation", "test", "length_generalization")


class ArithmeticConfig(tfds.core.BuilderConfig):
  """A builder config per task: its name spells out every parameter that shapes the data."""

  def __init__(self, *, task: arithmetic.ArithmeticTask, num_examples: int, val_fraction: float,
               num_test: int, num_length_generalization: int,
               length_generalization_digits: int, seed: int):
    ops = "".join(_OP_NAMES[op] for op in arithmetic.OPERATORS if op in task.ops)
    name = (f"d{task.digits}_{ops}_t{task.num_terms}{'_paren' if task.parentheses else ''}"
            f"_n{num_examples}_v{val_fraction:g}_test{num_test}")
    if num_length_generalization:
      name += f"_lg{num_length_generalization}x{length_generalization_digits}"
    super().__init__(name=f"{name}_s{seed}", description="arithmetic questions and answers")
    self.task = task
    self.split_args = dict(
        num_examples=num_examples, val_fraction=val_fraction, num_test=num_test,
        num_length_generalization=num_length_generalization,
        length_generalization_digits=length_generalization_digits, seed=seed)


class Arithmetic(tfds.core.GeneratorBasedBuilder):
  """Question/answer strings such as {'query': '12+345', 'answer': '357'}."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self,
        description=__doc__,
        features=tfds.features.FeaturesDict(
            {"query": tfds.features.Text(), "answer": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    splits = arithmetic.make_splits(self.builder_config.task, **self.builder_config.split_args)
    return {name: self._generate_examples(pairs) for name, pairs in splits.items()}

  def _generate_examples(self, pairs):
    for i, (query, answer) in enumerate(pairs):
      yield i, {"query": query, "answer": answer}


def task_from_config(task_config) -> arithmetic.ArithmeticTask:
  return arithmetic.ArithmeticTask(
      digits=task_config.digits, ops=task_config.ops, num_terms=task_config.num_terms,
      parentheses=task_config.parentheses)


def length_generalization_digits(task_config) -> int:
  """Operand digits of the length-generalization split (0 in the config = digits + 1)."""
  return task_config.length_generalization_digits or task_config.digits + 1


def builder_from_config(task_config, data_dir: str = "") -> Arithmetic:
  config = ArithmeticConfig(
      task=task_from_config(task_config), num_examples=task_config.num_examples,
      val_fraction=task_config.val_fraction, num_test=task_config.num_test,
      num_length_generalization=task_config.num_length_generalization,
      length_generalization_digits=length_generalization_digits(task_config),
      seed=task_config.seed)
  return Arithmetic(config=config, data_dir=os.path.expanduser(data_dir) if data_dir else None,
                    file_format="array_record")


def load(task_config, data_dir: str = "") -> dict:
  """Prepares the dataset once (later calls reuse it) and returns split -> data source.

  A data source is random-access: `len(src)` and `src[i] == {'query': b'..', 'answer': b'..'}`.
  """
  builder = builder_from_config(task_config, data_dir)
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)  # TFDS warns about every custom config.
  try:
    tfds.disable_progress_bar()
    builder.download_and_prepare()
  except OSError as e:
    # Several processes may prepare the same dataset at once; TFDS moves a finished one into
    # place atomically, so when another process won the race its dataset is whole: use it.
    builder = builder_from_config(task_config, data_dir)
    if not builder.is_prepared():
      raise UserError(f"cannot prepare the dataset in data_dir {data_dir!r}: {e}") from None
  finally:
    absl_logger.setLevel(level)
  return {split: builder.as_data_source(split=split)
          for split in SPLITS if split in builder.info.splits}
