"""Datasets: each task's data prepared once as a TFDS dataset (array_record, read without
TensorFlow) and read as random-access sources, split -> source with len(source) and
source.__getitems__(indices) -> records. What a record holds is the task's (s2s/tasks/).
"""

import logging
import os

import tensorflow_datasets as tfds

from s2s import corpora
from s2s import tasks
from s2s.errors import UserError

SPLITS = ("train", "validation", "test", "test_seen", "length_generalization")


def load(task_config, data_dir: str = "") -> dict:
  """The task's splits, prepared the first time and reused after: split -> source."""
  return tasks.get(task_config.name).load(task_config, data_dir)


def check_task(task_config):
  """Raises a UserError for a task value only the task's code can judge (after s2s.config has
  checked every field against the task's RULES)."""
  check = getattr(tasks.get(task_config.name), "check", None)
  if check is not None:
    check(task_config)


def data_dir(path: str):
  """TFDS's data dir for a config's `data_dir` ("" = TFDS's default)."""
  return os.path.expanduser(path) if path else None


def prepare(make_builder, path: str = "") -> dict:
  """Prepares the dataset of `make_builder()` once (later calls reuse it): split -> source.

  Several processes may prepare the same dataset at once; TFDS moves a finished one into
  place atomically, so when another process won the race its dataset is whole and is used.
  """
  builder = make_builder()
  absl_logger = logging.getLogger("absl")
  level = absl_logger.level
  absl_logger.setLevel(logging.ERROR)  # TFDS warns about every custom config.
  try:
    tfds.disable_progress_bar()
    builder.download_and_prepare()
  except OSError as e:
    builder = make_builder()
    if not builder.is_prepared():
      raise UserError(f"cannot prepare the dataset in data_dir {path!r}: {e}") from None
  finally:
    absl_logger.setLevel(level)
  return {split: builder.as_data_source(split=split)
          for split in SPLITS if split in builder.info.splits}


def read_records(source, keys=None) -> list:
  """Every record of a source, read in chunks; only `keys` of each if given (e.g. a task's
  texts, without its images or audio)."""
  out = []
  for start in range(0, len(source), 4096):
    chunk = source.__getitems__(list(range(start, min(len(source), start + 4096))))
    out += chunk if keys is None else [{k: r[k] for k in keys} for r in chunk]
  return out


def hash_split(name: str, val_fraction: float, test_fraction: float) -> str:
  """A file's split ("train", "validation" or "test") from a hash of its name: stable whatever
  order a list of files comes in, and on any machine (not Python's salted hash)."""
  x = corpora.source_hash(name)
  if x < test_fraction:
    return "test"
  return "validation" if x < test_fraction + val_fraction else "train"
