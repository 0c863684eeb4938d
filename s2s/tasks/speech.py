"""Speech recognition: audio in, text out, one character at a time (Listen, Attend and Spell:
a listener that subsamples log-mel frames and reads them with a (bi)LSTM, and the attention
decoder of the other tasks as its speller).

Datasets (`config.task.dataset`), each prepared once as a TFDS dataset of records
{'name', 'features' (float16 [frames, 80] log-mel, s2s.audio.log_mel), 'text', 'speaker'}:

  arithmetic  (default) the arithmetic task's questions spoken ("twelve plus three hundred
              forty five") by flite and espeak-ng voices (Debian packages; nothing is
              downloaded), at random speed and pitch, with light noise. The target is the
              transcription (target=transcript: "12+345") or the answer (target=answer:
              "357", hearing and computing). One flite voice (`held_out_voice`) is never
              heard in training: the `test` split is the test questions in that voice, the
              headline; `test_seen` is the same questions in the training voices.
  sentences   real English sentences, the English side of the gettext corpus the translation
              task reads (GUI and command-line messages of the installed software), kept
              when they are plain words; spoken as arithmetic's questions are, with the same
              held-out voice. target=transcript: the words, lowercase, without punctuation
              (recognition); target=translation: the message's French translation (speech
              translation). Splits by a hash of the transcript, as the translation task's.
  manifest    the user's recordings: a text file of `path<TAB>transcript` lines, paths
              relative to the file, WAV or FLAC at any sample rate (resampled to 16 kHz).
              Lines without a tab, missing or unreadable files and clips longer than
              max_seconds are skipped and counted; files are split by a hash of the path.

Scored by CER and WER (jiwer; lower is better) and exact match, greedy and beam, and for speech
translation BLEU and chrF too. For spoken arithmetic a word is a number or an operator
("12 + 345" has three).
"""

import collections
import dataclasses
import functools
import hashlib
import json
import os
import re

import jax
import numpy as np
import tensorflow_datasets as tfds

from s2s import arithmetic
from s2s import audio
from s2s import config as config_lib
from s2s import corpora
from s2s import dataset
from s2s import metrics as metrics_lib
from s2s import models
from s2s import tokenizers
from s2s import vocab as vocab_lib
from s2s import workdir as workdir_lib
from s2s.config import Rule
from s2s.errors import UserError
from s2s.tasks import _text
from s2s.tasks import translation

DATASETS = ("arithmetic", "sentences", "manifest")
TARGETS = {"arithmetic": ("transcript", "answer"), "sentences": ("transcript", "translation"),
           "manifest": ("transcript",)}
_FRACTION = dict(above=0, below=1)

RULES = {
    "task.dataset": Rule(str, choices=DATASETS),
    "task.target": Rule(str, choices=("transcript", "answer", "translation"),
                        why="answer: arithmetic only; translation: sentences only"),
    "task.digits": Rule(int, min=1, max=9),
    "task.ops": Rule(str),  # Operators out of "+-*": arithmetic.ArithmeticTask.
    "task.num_examples": Rule(int, min=2, why="train + validation utterances (arithmetic); "
                              "train utterances at most (sentences)"),
    "task.val_fraction": Rule(float, **_FRACTION),
    "task.test_fraction": Rule(float, **_FRACTION, why="manifest: the test share"),
    "task.num_test": Rule(int, min=1, why="test questions (arithmetic); validation and test "
                          "sentences at most (sentences)"),
    "task.corpus_path": Rule(str, why="sentences: a gettext tree such as /usr/share/locale"),
    "task.lang": Rule(str, why="sentences: the language of the translations"),
    "task.max_chars": Rule(int, min=1, why="sentences: longer English messages are dropped"),
    "task.seed": Rule(int, min=0, why="the questions, voices and perturbations"),
    "task.held_out_voice": Rule(str, why="a flite voice never heard in training"),
    "task.flite_share": Rule(float, min=0, max=1, why="the share of training utterances "
                             "spoken by flite voices (the rest by espeak-ng voices)"),
    "task.speed": Rule(float, min=0, below=0.5, why="speaking rate drawn in 1 +- speed"),
    "task.pitch": Rule(float, min=0, below=0.5, why="pitch drawn in 1 +- pitch"),
    "task.min_snr_db": Rule(float, min=0, max=60, why="noise at 0 = none, else an SNR drawn "
                            "between this and 40 dB"),
    "task.perturb_train": Rule(bool, why="False: training utterances without speed, pitch or "
                               "noise, validation and test as with True"),
    "task.manifest": Rule(str),  # manifest: checked by check().
    "task.max_seconds": Rule(float, above=0, max=600, why="longer clips are skipped"),
    "task.tokenizer": Rule(str, choices=("char", "spm")),
    "task.vocab_size": Rule(int, min=8, why="spm: pieces"),
    "task.conv_layers": Rule(int, min=0, max=4, why="stride-2 convolutions: time / 2**layers"),
    "task.conv_channels": Rule(int, min=1),
    "task.freq_masks": Rule(int, min=0, why="SpecAugment"),
    "task.freq_width": Rule(int, min=0, max=audio.MEL_BINS, why="SpecAugment, in mel bins"),
    "task.time_masks": Rule(int, min=0, why="SpecAugment"),
    "task.time_width": Rule(int, min=0, why="SpecAugment, in frames (10 ms)"),
}

METRICS = ("loss", "token_accuracy", "sequence_accuracy", "exact_match", "cer", "wer", "bleu",
           "chrf")

TASK_FILE = "task.json"  # In the workdir: the frames, the tokenizer, the lengths.
_SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2, "test_seen": 3}
_SNR_MAX_DB = 40.0
# flite's kal and kal16 are one speaker (the same diphones at 8 and 16 kHz): holding one out
# holds out both.
_SAME_SPEAKER = {"kal": ("kal", "kal16"), "kal16": ("kal", "kal16")}
_FRAMES_PER_SECOND = 100  # log_mel's 10 ms hop.


def shape(v) -> config_lib.Shape:
  """Rough sizes for the memory check: frames (about 3 s per question) stand in for tokens."""
  frames = int(min(v["task.max_seconds"], 6.0) * _FRAMES_PER_SECOND)
  arithmetic_data = v["task.dataset"] == "arithmetic"
  examples = v["task.num_examples"] + 2 * v["task.num_test"] if arithmetic_data else None
  train = (v["task.num_examples"] - round(v["task.num_examples"] * v["task.val_fraction"])
           if arithmetic_data else None)
  # The front end's projection, (bins >> layers) * channels -> hidden, stands in for the
  # source embedding (source_vocab x embed_dim) of the parameter estimate.
  projection = ((audio.MEL_BINS >> v["task.conv_layers"]) * v["task.conv_channels"]
                * v["model.hidden_size"])
  return config_lib.Shape(examples=examples, train_examples=train,
                          source_length=frames >> v["task.conv_layers"], target_length=64,
                          source_vocab=projection // max(v["model.embed_dim"], 1),
                          target_vocab=v["task.vocab_size"])


def check(c):
  """What RULES cannot say: the target, the arithmetic grammar, the voices, the corpus and the
  manifest (last: the look at the disk)."""
  if c.target not in TARGETS[c.dataset]:
    needs = [d for d, targets in TARGETS.items() if c.target in targets]
    raise UserError(f"config.task.target={c.target!r} needs dataset={needs[0]!r} (the targets "
                    f"of dataset={c.dataset!r}: {', '.join(TARGETS[c.dataset])})")
  if c.dataset in ("arithmetic", "sentences"):
    voice = _held_out(c)
    if voice.engine != "flite" or voice.name not in audio.FLITE_VOICES:
      raise UserError(f"config.task.held_out_voice {c.held_out_voice!r} is not a flite voice "
                      f"(one of {', '.join('flite:' + v for v in audio.FLITE_VOICES)})")
  if c.dataset == "arithmetic":
    arithmetic.two_terms(c)
    if c.tokenizer != "char":
      raise UserError("config.task.tokenizer must be 'char' for dataset='arithmetic' (its "
                      "transcripts are digits and operators)")
    config_lib.check_val_fraction(c)
    return
  if not c.val_fraction + c.test_fraction < 1:
    raise UserError(f"config.task.val_fraction + config.task.test_fraction must be below 1, "
                    f"got {c.val_fraction!r} + {c.test_fraction!r}")
  if c.dataset == "sentences":
    path = os.path.expanduser(c.corpus_path)
    if not os.path.isdir(path):
      raise UserError(f"config.task.corpus_path {c.corpus_path!r} is not a directory of gettext "
                      f"catalogs (<language>/LC_MESSAGES)")
    return
  if not c.manifest:
    raise UserError("config.task.manifest is empty: name the manifest file (path<TAB>"
                    "transcript lines)")
  path = os.path.expanduser(c.manifest)
  if not os.path.exists(path):
    raise UserError(f"config.task.manifest {c.manifest!r} does not exist")
  if os.path.isdir(path):
    raise UserError(f"config.task.manifest {c.manifest!r} is a directory, not a manifest file")


def _held_out(c) -> "audio.Voice":
  try:
    return audio.Voice.parse(c.held_out_voice)
  except ValueError:
    raise UserError(f"config.task.held_out_voice {c.held_out_voice!r} is not a voice such as "
                    f"'flite:slt'") from None


def training_voices(c) -> list:
  """The voices of the train, validation and test_seen splits: every flite voice but the
  held-out speaker's, and every English espeak-ng voice and variant."""
  held = _held_out(c).name
  flite = [audio.Voice("flite", v) for v in audio.FLITE_VOICES
           if v not in _SAME_SPEAKER.get(held, (held,))]
  return flite + list(audio.espeak_voices())


# ---------------------------------------------------------------------------------------------
# Spoken arithmetic.

def _arithmetic_jobs(c) -> dict:
  """split -> [(name, text, speaker, synthesis job)] of the arithmetic questions."""
  pairs = arithmetic.make_splits(arithmetic.two_terms(c), num_examples=c.num_examples,
                                 val_fraction=c.val_fraction, num_test=c.num_test, seed=c.seed)
  return _spoken_jobs(c, {
      split: [(audio.spoken_expression(query), query if c.target == "transcript" else answer)
              for query, answer in questions]
      for split, questions in pairs.items()})


def _spoken_jobs(c, items: dict) -> dict:
  """split -> [(name, text, speaker, synthesis job)] of `items` (split -> [(the words to
  speak, the target text)]; `test` is spoken again as `test_seen`): each job draws its own
  voice, speed, pitch and noise from the seed, the split and its index. `test` is spoken by
  the held-out voice, the other splits by the training voices."""
  items = dict(items, test_seen=items["test"])
  voices = training_voices(c)
  flite = [v for v in voices if v.engine == "flite"]
  espeak = [v for v in voices if v.engine != "flite"]
  held = _held_out(c)
  out = {}
  for split, rows_in in items.items():
    rng = np.random.default_rng([c.seed, _SPLIT_SEEDS[split]])
    rows = []
    for i, (spoken, text) in enumerate(rows_in):
      if split == "test":
        voice = held
      elif not espeak or rng.random() < c.flite_share:
        voice = flite[rng.integers(len(flite))]
      else:
        voice = espeak[rng.integers(len(espeak))]
      speed = 1 + rng.uniform(-c.speed, c.speed)
      pitch = 1 + rng.uniform(-c.pitch, c.pitch)
      noise_seed = int(rng.integers(2**31))
      # perturb_train=False: clean training speech; the draws above are made all the same, so
      # every other split is the very same audio as with perturbation (a fair ablation).
      perturb = c.perturb_train or split != "train"
      # Besides the synthesizer's tempo and pitch, Kaldi's speed perturbation (tempo and
      # pitch together, 0.9-1.1) whenever speed varies at all.
      job = (spoken, str(voice), speed if perturb else 1.0, pitch if perturb else 1.0,
             noise_seed, (c.min_snr_db, _SNR_MAX_DB) if c.min_snr_db and perturb else None,
             (0.9, 1.1) if c.speed and perturb else None)
      rows.append((f"{split}/{i:06d}", text, str(voice), job))
    out[split] = rows
  return out


def _synthesized_splits(plans: dict) -> dict:
  """split -> (count, iterator of (name, features, text, speaker)) of `_spoken_jobs` plans."""

  def examples(split):
    rows = plans[split]
    features = audio.features_many([job for *_, job in rows], desc=f"speaking {split}")
    for (name, text, speaker, _), frames in zip(rows, features):
      yield name, frames.astype(np.float16), text, speaker

  return {split: (len(rows), examples(split)) for split, rows in plans.items()}


# ---------------------------------------------------------------------------------------------
# Spoken sentences.

_PLAIN = re.compile(r"[A-Za-z][A-Za-z' ,.?!-]*")


def speakable(message: str) -> str:
  """An English message as a person would read it aloud, or "" when it is not plain words:
  gettext's accelerator marks go ("_Open file" -> "Open file"); then the message must hold
  only letters, spaces and ' , . ? ! - and at least two words."""
  text = _unmark(message)
  return text if _PLAIN.fullmatch(text) and len(normalize_transcript(text).split()) >= 2 else ""


def _unmark(message: str) -> str:
  """A gettext message without its accelerator marks ("_Open", "&File") and extra spaces."""
  return " ".join(re.sub(r"[_&](?=[^\W\d_])", "", message).split())


def normalize_transcript(text: str) -> str:
  """What recognition is scored on: the lowercase words, without punctuation ("Don't save
  read-only files." -> "don't save read only files")."""
  return " ".join(re.findall(r"[a-z]+(?:'[a-z]+)*", text.lower()))


def sentence_splits(c) -> dict:
  """split -> [(English text to speak, its target text)] of the gettext corpus's plain English
  messages: at most num_examples for training, num_test for validation and for test, drawn
  by the seed. Messages that read the same (one transcript) are one sentence, and a sentence's
  split is fixed by a hash of its transcript, so no test sentence is heard in training."""
  corpus = corpora.clean(corpora.read_gettext(os.path.expanduser(c.corpus_path), c.lang),
                         max_source_chars=c.max_chars, max_target_chars=c.max_chars * 3 // 2,
                         drop_format=True, drop_markup=True)
  by_transcript = {}
  for english, translated in corpus.pairs:
    spoken = speakable(english)
    if spoken and normalize_transcript(spoken) not in by_transcript:
      by_transcript[normalize_transcript(spoken)] = (spoken, _unmark(translated))
  split = corpora.split(list(by_transcript.items()), val_fraction=c.val_fraction,
                        test_fraction=c.test_fraction)
  most = {"train": c.num_examples, "validation": c.num_test, "test": c.num_test}
  out = {}
  for name, pairs in split.items():
    rng = np.random.default_rng([c.seed, _SPLIT_SEEDS[name]])
    keep = np.sort(rng.permutation(len(pairs))[:most[name]])
    out[name] = [(pairs[i][1][0], pairs[i][0] if c.target == "transcript" else pairs[i][1][1])
                 for i in keep]
  if not out["train"] or not out["test"]:
    raise UserError(f"config.task.corpus_path {c.corpus_path!r} holds too few plain English "
                    f"messages translated to {c.lang!r} ({sum(map(len, out.values()))})")
  return out


# ---------------------------------------------------------------------------------------------
# The user's recordings.

def read_manifest(path: str) -> tuple[list, collections.Counter]:
  """[(audio path, transcript)] of a manifest's usable lines and the count of skipped lines
  by reason. Blank lines and lines starting with '#' are not entries."""
  base = os.path.dirname(os.path.abspath(os.path.expanduser(path)))
  try:
    with open(os.path.expanduser(path), encoding="utf-8") as f:
      lines = f.read().splitlines()
  except UnicodeDecodeError:
    raise UserError(f"config.task.manifest {path!r} is not UTF-8 text") from None
  except OSError as e:
    raise UserError(f"cannot read config.task.manifest {path!r}: {e.strerror}") from None
  entries, skipped = [], collections.Counter()
  for line in lines:
    if not line.strip() or line.startswith("#"):
      continue
    if "\t" not in line:
      skipped["a line without a tab"] += 1
      continue
    file_name, transcript = line.split("\t", 1)
    transcript = " ".join(transcript.split())
    if not file_name.strip() or not transcript:
      skipped["an empty path or transcript"] += 1
      continue
    entries.append((os.path.join(base, os.path.expanduser(file_name.strip())), transcript))
  return entries, skipped


def _manifest_splits(c) -> dict:
  entries, skipped = read_manifest(c.manifest)
  by_split = {"train": [], "validation": [], "test": []}
  base = os.path.dirname(os.path.abspath(os.path.expanduser(c.manifest)))
  for path, transcript in entries:
    split = dataset.hash_split(os.path.relpath(path, base), c.val_fraction, c.test_fraction)
    by_split[split].append((path, transcript))
  usable = {}  # What each split keeps, read once to count what is skipped before building.
  for split, items in by_split.items():
    kept = []
    for path, transcript in items:
      try:
        samples = audio.read_audio(path)
      except UserError as e:
        skipped[_skip_reason(str(e).replace(path, "FILE"))] += 1
        continue
      if len(samples) > c.max_seconds * audio.SAMPLE_RATE:
        skipped[f"longer than max_seconds={c.max_seconds:g}"] += 1
        continue
      kept.append((path, transcript))
    usable[split] = kept
  if skipped:
    print(f"manifest {c.manifest}: skipped " + ", ".join(
        f"{n} ({reason})" for reason, n in skipped.most_common()), flush=True)
  for split in ("train", "validation"):
    if not usable[split]:
      raise UserError(f"config.task.manifest {c.manifest!r} leaves no usable {split} "
                      f"recordings ({sum(len(v) for v in usable.values())} usable in all)")

  def examples(split):
    for path, transcript in usable[split]:
      frames = audio.log_mel(audio.read_audio(path)).astype(np.float16)
      yield os.path.relpath(path, base), frames, transcript, ""

  return {split: (len(items), examples(split)) for split, items in usable.items() if items}


def _skip_reason(message: str) -> str:
  """Why read_audio refused a file, from its message (with the path taken out)."""
  if "does not exist" in message:
    return "a missing file"
  if "empty" in message or "no samples" in message:
    return "an empty recording"
  return "an unreadable file"


# ---------------------------------------------------------------------------------------------
# The TFDS dataset.

class SpeechConfig(tfds.core.BuilderConfig):
  """A builder config per dataset: a readable name plus a hash of every field shaping the data
  (for a manifest, also its path, size and time)."""

  def __init__(self, c):
    self.task_config = c
    fields = {k: c[k] for k in _DATA_FIELDS[c.dataset]}
    if c.dataset == "manifest":
      path = os.path.abspath(os.path.expanduser(c.manifest))
      fields["manifest"] = [path, os.path.getsize(path), os.path.getmtime(path)]
    else:
      if c.dataset == "sentences":
        fields["corpus"] = translation.fingerprint(os.path.abspath(os.path.expanduser(
            c.corpus_path)))
      fields["voices"] = [str(v) for v in training_voices(c)]  # What this machine has.
      if not c.perturb_train:  # Hashed only when set, so datasets made before it keep their name.
        fields["perturb_train"] = False
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
    super().__init__(name=f"{c.dataset}_{digest}", description=f"speech {c.dataset}")


_DATA_FIELDS = {
    "arithmetic": ("dataset", "target", "digits", "ops", "num_examples", "val_fraction",
                   "num_test", "seed", "held_out_voice", "flite_share", "speed", "pitch",
                   "min_snr_db"),
    "sentences": ("dataset", "target", "corpus_path", "lang", "max_chars", "num_examples",
                  "val_fraction", "test_fraction", "num_test", "seed", "held_out_voice",
                  "flite_share", "speed", "pitch", "min_snr_db"),
    "manifest": ("dataset", "val_fraction", "test_fraction", "max_seconds"),
}


class Speech(tfds.core.GeneratorBasedBuilder):
  """Utterances with their text: {'name', 'features', 'text', 'speaker'}."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__,
        features=tfds.features.FeaturesDict({
            "name": tfds.features.Text(),
            "features": tfds.features.Tensor(shape=(None, audio.MEL_BINS), dtype=np.float16,
                                             encoding=tfds.features.Encoding.ZLIB),
            "text": tfds.features.Text(), "speaker": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    c = self.builder_config.task_config
    if c.dataset == "manifest":
      splits = _manifest_splits(c)
    else:
      jobs = _arithmetic_jobs(c) if c.dataset == "arithmetic" else _spoken_jobs(
          c, sentence_splits(c))
      splits = _synthesized_splits(jobs)
    return {name: self._generate_examples(examples) for name, (_, examples) in splits.items()}

  def _generate_examples(self, examples):
    for key, (name, frames, text, speaker) in enumerate(examples):
      yield key, {"name": name, "features": frames, "text": text, "speaker": speaker}


def load(task_config, data_dir: str = "") -> dict:
  """split -> source of records; prepared once."""
  return dataset.prepare(
      lambda: Speech(config=SpeechConfig(task_config), data_dir=dataset.data_dir(data_dir),
                     file_format="array_record"),
      data_dir)


# ---------------------------------------------------------------------------------------------
# The run's task.

def build(config, workdir=None, sources=None) -> "Task":
  """The run's task. The first time (`sources` given) it trains the tokenizer on the training
  texts and fixes the longest input and output of any split, saving them in the workdir;
  later (resuming, predicting) it loads them from there."""
  c = config.task
  path = os.path.join(workdir, TASK_FILE)
  prefix = os.path.join(workdir, "target_tokenizer")
  if os.path.exists(path):
    saved = workdir_lib.read_json(path)
    tokenizer = tokenizers.load(saved["tokenizer"], prefix)
  else:
    if sources is None:
      raise UserError(f"workdir {workdir!r} holds no {TASK_FILE}: its training never started")
    train = [_text._text(r["text"]) for r in dataset.read_records(sources["train"], ("text",))]
    tokenizer = tokenizers.train(c.tokenizer, train, vocab_size=c.vocab_size)
    longest_text, longest_frames = 0, 0
    for src in sources.values():
      for r in dataset.read_records(src, ("text", "features")):
        longest_text = max(longest_text, len(tokenizer.encode(_text._text(r["text"]))))
        longest_frames = max(longest_frames, len(r["features"]))
    saved = {"tokenizer": c.tokenizer, "max_frames": longest_frames,
             "target_length": longest_text + 1, "dataset": c.dataset}
    if jax.process_index() == 0:
      tokenizer.save(prefix)
      workdir_lib.write_json(path, saved)
  return Task(tokenizer=tokenizer, max_frames=saved["max_frames"],
              target_length=saved["target_length"], dataset=saved["dataset"],
              conv_layers=c.conv_layers, conv_channels=c.conv_channels,
              spec_augment=(c.freq_masks, c.freq_width, c.time_masks, c.time_width),
              translates=c.target == "translation")


def wer(hypotheses: list[str], references: list[str], dataset_name: str) -> float:
  """Word error rate of [N] hypotheses against their [N] references, as jiwer computes it
  (word edit distances summed over reference words summed), words as `words` cuts them."""
  import jiwer  # pylint: disable=import-outside-toplevel
  return float(jiwer.wer([words(r, dataset_name) for r in references],
                         [words(h, dataset_name) for h in hypotheses]))


def words(text: str, dataset_name: str) -> str:
  """The words WER counts, space separated: for spoken arithmetic each number and each
  operator ("12+345" -> "12 + 345"), else the text's own words."""
  if dataset_name == "arithmetic":
    return " ".join(re.findall(r"\d+|\S", text))
  return " ".join(text.split())


@dataclasses.dataclass(frozen=True)
class Task:
  """Log-mel frames in, text out through one tokenizer."""
  tokenizer: object
  max_frames: int  # The longest utterance of the dataset, in 10 ms frames.
  target_length: int  # Text tokens + EOS.
  dataset: str
  conv_layers: int
  conv_channels: int
  spec_augment: tuple  # (freq_masks, freq_width, time_masks, time_width)
  translates: bool = False  # Speech translation: BLEU and chrF are reported too.

  @property
  def input_spec(self) -> dict:
    return {"features": ((self.max_frames, audio.MEL_BINS), np.dtype(np.float16)),
            "feature_lengths": ((), np.dtype(np.int32))}

  @property
  def target_vocab_size(self) -> int:
    return self.tokenizer.size

  def input_module(self, model_config):
    freq_masks, freq_width, time_masks, time_width = self.spec_augment
    return functools.partial(models.SpeechInput, self.conv_channels, self.conv_layers,
                             model_config.hidden_size, freq_masks, freq_width, time_masks,
                             time_width)

  @staticmethod
  def texts(record) -> tuple[str, str]:
    """(the utterance's name, its text)."""
    return _text._text(record["name"]), _text._text(record["text"])

  def _frames(self, frames) -> dict:
    frames = np.asarray(frames, np.float16)[:self.max_frames]
    padded = np.zeros((self.max_frames, audio.MEL_BINS), np.float16)
    padded[:len(frames)] = frames
    return {"features": padded, "feature_lengths": np.int32(len(frames))}

  def encode(self, record) -> dict:
    ids = self.tokenizer.encode(_text._text(record["text"]))[:self.target_length - 1]
    return self._frames(record["features"]) | {
        "targets": _text.pad(ids + [vocab_lib.EOS], self.target_length)}

  def decode(self, ids) -> str:
    return self.tokenizer.decode(ids)

  def sequence_lengths(self, arrays) -> dict:
    """{batch key: int [N]}: real frames, and text ids + EOS (length buckets)."""
    return {"features": np.asarray(arrays["feature_lengths"]),
            "targets": np.sum(np.asarray(arrays["targets"]) != vocab_lib.PAD, axis=1)}

  def parse_query(self, text: str) -> dict:
    """An audio file (WAV or FLAC, any sample rate) as the model's frames."""
    path = os.path.expanduser(text.strip())
    frames = audio.log_mel(audio.read_audio(path))
    if len(frames) > self.max_frames:
      raise UserError(f"{text.strip()!r} lasts {len(frames) / _FRAMES_PER_SECOND:.1f} s; this "
                      f"model hears at most {self.max_frames / _FRAMES_PER_SECOND:.1f} s")
    return self._frames(frames)

  def text_metrics(self, hypotheses, references, final: bool = False) -> dict:
    """Exact match, CER and WER as jiwer computes them (over the whole split); for speech
    translation also BLEU and chrF as sacrebleu computes them."""
    del final
    import jiwer  # pylint: disable=import-outside-toplevel
    refs = [r[0] if isinstance(r, list) else r for r in references]
    out = {"exact_match": float(np.mean([h == r for h, r in zip(hypotheses, refs)])),
           "cer": float(jiwer.cer(refs, hypotheses)),
           "wer": wer(hypotheses, refs, self.dataset)}
    if self.translates:
      out |= {k: v for k, v in metrics_lib.text_metrics(hypotheses, refs).items()
              if k in ("bleu", "chrf")}
    return out

  def target_pieces(self, ids) -> list[str]:
    return _text.pieces(self.tokenizer, ids)

  def source_image(self, example):
    """(the utterance's log-mel spectrogram as an image uint8 [80, frames, 1], low
    frequencies at the bottom, cut after the listener frame that holds its last real frame;
    the attention grid (1, listener frames)), for attention plots over time."""
    length = int(example["feature_lengths"])
    columns = length
    for _ in range(self.conv_layers):
      columns = (columns + 1) // 2
    frames = np.zeros((columns << self.conv_layers, audio.MEL_BINS), np.float32)
    real = np.asarray(example["features"], np.float32)[:length]
    low, high = np.percentile(real, 1), np.percentile(real, 99)
    frames[:length] = np.clip((real - low) / max(high - low, 1e-6), 0, 1)
    return (255 * frames.T[::-1]).astype(np.uint8)[..., None], (1, columns)
