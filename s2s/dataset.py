"""Tasks as TFDS datasets, prepared as array_record and read without TensorFlow.

Arithmetic: {'query': '12+345', 'answer': '357'} generated from the task's fields.
Translation: {'source': ..., 'target': ...} from a parallel corpus on disk (gettext catalogs
or a TSV file, see s2s.corpora), or a translation dataset TFDS has prepared (by name).
"""

import hashlib
import json
import logging
import os

import tensorflow_datasets as tfds

from s2s import arithmetic
from s2s import corpora
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


class TranslationConfig(tfds.core.BuilderConfig):
  """A builder config per corpus: a readable name plus a hash of everything shaping the data.

  The hash covers the corpus files' paths, sizes and modification times, so an edited
  corpus is prepared anew instead of a stale copy being reused.
  """

  def __init__(self, task_config):
    self.task_config = task_config
    path = os.path.abspath(os.path.expanduser(task_config.path))
    fields = {k: task_config[k] for k in sorted(TRANSLATION_DATA_FIELDS)}
    fields["path"] = path
    fields["files"] = _fingerprint(path)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
    super().__init__(name=f"{task_config.corpus}_{task_config.src}-{task_config.tgt}_{digest}",
                     description=f"{task_config.corpus} {path} {task_config.src}->{task_config.tgt}")


# The task fields that shape a translation dataset (the tokenizer and reversal do not).
TRANSLATION_DATA_FIELDS = ("corpus", "path", "src", "tgt", "max_source_chars",
                           "max_target_chars", "drop_format", "drop_markup", "val_fraction",
                           "test_fraction")


def _fingerprint(path):
  if os.path.isfile(path):
    return [(path, os.path.getsize(path), os.path.getmtime(path))]
  out = []
  for root, dirs, files in os.walk(path):
    dirs.sort()
    out += [(os.path.join(root, f), os.path.getsize(os.path.join(root, f)),
             os.path.getmtime(os.path.join(root, f)))
            for f in sorted(files) if f.endswith((".po", ".mo"))]
  return out


def read_corpus(task_config) -> corpora.Corpus:
  """The cleaned pairs of a gettext or TSV corpus, oriented src -> tgt."""
  c = task_config
  if c.corpus == "gettext":
    if "en" not in (c.src, c.tgt):
      raise UserError(f"gettext catalogs translate English messages: config.task.src or "
                      f"config.task.tgt must be 'en', got {c.src}->{c.tgt}")
    try:
      corpus = corpora.read_gettext(c.path, c.tgt if c.src == "en" else c.src,
                                    swap=c.src != "en")
    except UserError as e:
      raise UserError(f"{str(e).rstrip('.')}; to train on a TSV file instead: "
                      f"configs/translation.py:corpus=tsv,path=fra.txt") from None
  else:  # tsv: English first, as Anki/Tatoeba files are; a pair without English as given.
    corpus = corpora.read_tsv(c.path, swap=c.tgt == "en" and c.src != "en")
  return corpora.clean(corpus, max_source_chars=c.max_source_chars,
                       max_target_chars=c.max_target_chars, drop_format=c.drop_format,
                       drop_markup=c.drop_markup)


class Translation(tfds.core.GeneratorBasedBuilder):
  """Sentence pairs {'source': ..., 'target': ...} from a corpus on disk, split by source."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__,
        features=tfds.features.FeaturesDict(
            {"source": tfds.features.Text(), "target": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    c = self.builder_config.task_config
    corpus = read_corpus(c)
    print(f"{c.corpus} corpus {c.path} ({c.src}->{c.tgt}): {corpus.report()}")
    splits = corpora.split(corpus.pairs, val_fraction=c.val_fraction,
                           test_fraction=c.test_fraction)
    for name, pairs in splits.items():
      if not pairs:
        raise UserError(f"the {name} split of {c.path} is empty: the corpus has only "
                        f"{len(corpus.pairs)} usable pairs")
    return {name: self._generate_examples(pairs) for name, pairs in splits.items()}

  def _generate_examples(self, pairs):
    for i, (source, target) in enumerate(pairs):
      yield i, {"source": source, "target": target}


class _Renamed:
  """A TFDS translation data source with its language keys renamed to source/target."""

  def __init__(self, source, src, tgt):
    self.source, self.src, self.tgt = source, src, tgt

  def __len__(self):
    return len(self.source)

  def __getitems__(self, indices):
    return [{"source": r[self.src], "target": r[self.tgt]}
            for r in self.source.__getitems__(indices)]

  def __getitem__(self, i):
    return self.__getitems__([i])[0]


def _load_tfds_translation(c, data_dir):
  """A translation dataset TFDS has prepared, e.g. ted_hrlr_translate/pt_to_en (never downloaded)."""
  try:
    builder = tfds.builder(c.path, data_dir=os.path.expanduser(data_dir) if data_dir else None)
  except Exception as e:  # pylint: disable=broad-except
    raise UserError(f"unknown TFDS dataset {c.path!r}: {str(e).splitlines()[0]}") from None
  if not builder.is_prepared():
    raise UserError(f"the TFDS dataset {c.path!r} is not prepared in {builder.data_dir!r}; "
                    f"nothing is downloaded at run time: prepare it there first "
                    f"(tfds build {c.path} --data_dir=...)")
  keys = set(builder.info.features.keys())
  if not {c.src, c.tgt} <= keys:
    raise UserError(f"the TFDS dataset {c.path!r} has the languages {sorted(keys)}, "
                    f"not {c.src!r} and {c.tgt!r}")
  names = {"train": "train", "validation": "validation", "test": "test"}
  missing = [n for n in names if n not in builder.info.splits]
  if missing:
    raise UserError(f"the TFDS dataset {c.path!r} has no {', '.join(missing)} split")
  return {n: _Renamed(builder.as_data_source(split=n), c.src, c.tgt) for n in names}


def check_task(task_config):
  """Raises a UserError naming the first task field that cannot work, for what only the
  task's code knows. s2s.config.check has checked every field's type and range first (its
  TASK_RULES); a corpus path's existence is checked last, as the only look at the disk."""
  if task_config.name == "arithmetic":
    _check_arithmetic(task_config)
  elif task_config.name == "translation":
    _check_translation(task_config)


def _check_arithmetic(c):
  task_from_config(c)  # Its operators.
  num_val = round(c.num_examples * c.val_fraction)
  if num_val == 0 or num_val == c.num_examples:
    raise UserError(f"config.task.val_fraction={c.val_fraction} of config.task.num_examples="
                    f"{c.num_examples} leaves an empty train or validation split")
  if (c.num_length_generalization and c.length_generalization_digits
      and c.length_generalization_digits <= c.digits):
    raise UserError(f"config.task.length_generalization_digits must exceed digits={c.digits}, "
                    f"got {c.length_generalization_digits}")


def _check_translation(c):
  if not c.src or not c.tgt or c.src == c.tgt:
    raise UserError(f"config.task.src and config.task.tgt must be two different languages, "
                    f"got {c.src!r} and {c.tgt!r}")
  if c.corpus == "gettext" and "en" not in (c.src, c.tgt):
    raise UserError(f"gettext catalogs translate English messages: config.task.src or "
                    f"config.task.tgt must be 'en', got {c.src}->{c.tgt}")
  if not c.val_fraction + c.test_fraction < 1:
    raise UserError(f"config.task.val_fraction + config.task.test_fraction must be below 1, "
                    f"got {c.val_fraction!r} + {c.test_fraction!r}")
  if not c.path:
    raise UserError(f"config.task.path is empty: name the {c.corpus} corpus "
                    f"({'a TFDS dataset name' if c.corpus == 'tfds' else 'a file or directory'})")
  if c.corpus == "tfds":
    return  # A dataset name: whether it is prepared is known from the data_dir, at load.
  path = os.path.expanduser(c.path)
  if not os.path.exists(path):
    hint = (" (no gettext catalogs here? train on a TSV file instead: "
            "configs/translation.py:corpus=tsv,path=fra.txt)" if c.corpus == "gettext" else "")
    raise UserError(f"config.task.path {c.path!r} does not exist{hint}")
  if c.corpus == "tsv" and os.path.isdir(path):
    raise UserError(f"config.task.path {c.path!r} is a directory; corpus=tsv reads one file")
  if c.corpus == "gettext" and not os.path.isdir(path):
    raise UserError(f"config.task.path {c.path!r} is not a directory; corpus=gettext reads "
                    f"a tree of <language>/LC_MESSAGES catalogs")


def task_from_config(task_config) -> arithmetic.ArithmeticTask:
  return arithmetic.ArithmeticTask(
      digits=task_config.digits, ops=task_config.ops, num_terms=task_config.num_terms,
      parentheses=task_config.parentheses)


def length_generalization_digits(task_config) -> int:
  """Operand digits of the length-generalization split (0 in the config = digits + 1)."""
  return task_config.length_generalization_digits or task_config.digits + 1


def builder_from_config(task_config, data_dir: str = ""):
  data_dir = os.path.expanduser(data_dir) if data_dir else None
  if task_config.name == "translation":
    return Translation(config=TranslationConfig(task_config), data_dir=data_dir,
                       file_format="array_record")
  config = ArithmeticConfig(
      task=task_from_config(task_config), num_examples=task_config.num_examples,
      val_fraction=task_config.val_fraction, num_test=task_config.num_test,
      num_length_generalization=task_config.num_length_generalization,
      length_generalization_digits=length_generalization_digits(task_config),
      seed=task_config.seed)
  return Arithmetic(config=config, data_dir=data_dir, file_format="array_record")


def load(task_config, data_dir: str = "") -> dict:
  """Prepares the dataset once (later calls reuse it) and returns split -> data source.

  A data source is random-access: `len(src)` and `src[i] == {'query': b'..', 'answer': b'..'}`
  (translation: {'source': .., 'target': ..}).
  """
  if task_config.name == "translation" and task_config.corpus == "tfds":
    return _load_tfds_translation(task_config, data_dir)
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
