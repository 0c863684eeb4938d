"""Translation from a parallel corpus: a sentence in, its translation out, through
tokenizers (characters or sentencepiece) trained on the training split.

The corpus is a gettext tree or an Anki/Tatoeba TSV file on disk (see s2s.corpora), cleaned
and split by a hash of the source, prepared once as a TFDS dataset of records {'source': ...,
'target': ...}; or a translation dataset TFDS has already prepared (by name, never
downloaded). Scored by BLEU and chrF (sacrebleu) and exact match on the detokenized text.
"""

import hashlib
import json
import os

import jax
import tensorflow_datasets as tfds

from s2s import config as config_lib
from s2s import corpora
from s2s import dataset
from s2s import metrics as metrics_lib
from s2s import tokenizers
from s2s import workdir as workdir_lib
from s2s.config import Rule
from s2s.errors import UserError
from s2s.tasks import _text

_FRACTION = dict(above=0, below=1)

RULES = {
    "task.corpus": Rule(str, choices=("gettext", "tsv", "tfds")),
    "task.path": Rule(str),  # Non-empty and existing: check(), last.
    "task.src": Rule(str),
    "task.tgt": Rule(str),
    "task.max_source_chars": Rule(int, min=0, why="0 = keep every pair"),
    "task.max_target_chars": Rule(int, min=0, why="0 = keep every pair"),
    "task.drop_format": Rule(bool),
    "task.drop_markup": Rule(bool),
    "task.val_fraction": Rule(float, **_FRACTION),
    "task.test_fraction": Rule(float, **_FRACTION),
    "task.tokenizer": Rule(str, choices=("char", "spm")),  # Words drop case and punctuation.
    "task.vocab_size": Rule(int, min=5, why="4 ids are pad, bos, eos and unk"),
    "task.reverse": Rule(bool),
}

# Padding positions mean nothing in a sentence; BLEU, chrF and exact match do.
METRICS = ("loss", "token_accuracy", "sequence_accuracy", "bleu", "chrf", "exact_match")

TASK_FILE = "task.json"  # In the workdir: the tokenizers' kind and the sequence lengths.


def shape(v) -> config_lib.Shape:
  # The corpus decides; a token is at most a character, and max_*_chars may be "no limit".
  vocab = v["task.vocab_size"] if v["task.tokenizer"] == "spm" else 256
  return config_lib.Shape(examples=None, train_examples=None,
                          source_length=min(v["task.max_source_chars"] or 256, 1024),
                          target_length=min(v["task.max_target_chars"] or 256, 1024) + 1,
                          source_vocab=vocab, target_vocab=vocab)


def check(c):
  """What RULES cannot say: two languages, gettext's English side, the corpus path (last: the
  one look at the disk)."""
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
    fields["files"] = fingerprint(path)
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
    super().__init__(name=f"{task_config.corpus}_{task_config.src}-{task_config.tgt}_{digest}",
                     description=f"{task_config.corpus} {path} {task_config.src}->{task_config.tgt}")


# The task fields that shape a translation dataset (the tokenizer and reversal do not).
TRANSLATION_DATA_FIELDS = ("corpus", "path", "src", "tgt", "max_source_chars",
                           "max_target_chars", "drop_format", "drop_markup", "val_fraction",
                           "test_fraction")


def fingerprint(path):
  """[(file, size, modification time)] of a corpus file or of a gettext tree's catalogs."""
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


def load(task_config, data_dir: str = "") -> dict:
  """split -> source of records {'source': b'...', 'target': b'...'}; prepared once."""
  if task_config.corpus == "tfds":
    return _load_tfds_translation(task_config, data_dir)
  return dataset.prepare(
      lambda: Translation(config=TranslationConfig(task_config),
                          data_dir=dataset.data_dir(data_dir), file_format="array_record"),
      data_dir)


def build(config, workdir=None, sources=None) -> "Task":
  """The run's task. The first time (`sources` given) it trains the tokenizers on the training
  split and fixes the sequence lengths (the longest of any split), saving both in the workdir;
  later (resuming, predicting) it loads them from there."""
  c = config.task
  path = os.path.join(workdir, TASK_FILE)
  prefixes = {side: os.path.join(workdir, f"{side}_tokenizer") for side in ("source", "target")}
  if os.path.exists(path):
    saved = workdir_lib.read_json(path)
    tok = {side: tokenizers.load(saved["tokenizer"], p) for side, p in prefixes.items()}
    lengths = saved["query_length"], saved["target_length"]
  else:
    if sources is None:
      raise UserError(f"workdir {workdir!r} holds no {TASK_FILE}: its training never started")
    texts = Task.texts
    train_texts = [texts(r) for r in dataset.read_records(sources["train"])]
    tok = {side: tokenizers.train(c.tokenizer, [pair[i] for pair in train_texts],
                                  vocab_size=c.vocab_size)
           for i, side in enumerate(("source", "target"))}
    lengths = [0, 0]
    for src in sources.values():
      for source, target in (texts(r) for r in dataset.read_records(src)):
        lengths[0] = max(lengths[0], len(tok["source"].encode(source)))
        lengths[1] = max(lengths[1], len(tok["target"].encode(target)) + 1)
    if jax.process_index() == 0:
      for side, prefix in prefixes.items():
        tok[side].save(prefix)
      workdir_lib.write_json(path, {
          "tokenizer": c.tokenizer, "query_length": lengths[0], "target_length": lengths[1],
          "source_vocab_size": tok["source"].size, "target_vocab_size": tok["target"].size})
  return Task(tok["source"], tok["target"], lengths[0], lengths[1], c.reverse)


class Task(_text.TextTask):
  """Sentence pairs through two tokenizers; tokens never seen in training become UNK."""

  RECORD_KEYS = ("source", "target")

  def text_metrics(self, hypotheses, references, final: bool = False) -> dict:
    del final  # Every metric is cheap.
    return metrics_lib.text_metrics(hypotheses, references)
