"""The speech task: the listener's front end (normalisation, SpecAugment, subsampling), the
spoken-arithmetic dataset (voices, held-out speaker), manifests, metrics, train and predict."""

import os
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import (ROOT, assert_user_error, check_predict_files,
                      check_predict_refuses_bad_files, load_config, needs_voices, read_metrics,
                      run, run_cli)
from s2s import audio
from s2s import corpora
from s2s import models
from s2s.tasks import speech


def _front_end(**kwargs):
  return models.SpeechInput(channels=4, layers=2, dim=8, **kwargs)


def _batch(frames, lengths, ids=None):
  batch = {"features": jnp.asarray(frames, jnp.float16),
           "feature_lengths": jnp.asarray(lengths, jnp.int32)}
  if ids is not None:
    batch["example_ids"] = jnp.asarray(ids, jnp.int32)
  return batch


def test_spec_augment_masks_stay_within_their_widths_and_the_utterance():
  bands, spans = [], []
  for seed in range(50):
    key = jax.random.PRNGKey(seed)
    length = 40 + seed
    keep = np.asarray(models.spec_augment_mask(key, length, 120, 80, 2, 15, 2, 20))
    assert keep.shape == (120, 80) and set(np.unique(keep)) <= {0.0, 1.0}
    masked_bins = np.flatnonzero(keep.max(0) == 0)  # Bins masked in every frame.
    masked_frames = np.flatnonzero(keep.max(1) == 0)  # Frames masked in every bin.
    assert len(masked_bins) <= 30
    assert len(masked_frames) <= 2 * (length // 5)
    assert all(f < length for f in masked_frames)  # Never only the padding.
    # Outside the masked bins and frames nothing is masked: bands and spans, no speckles.
    rest = np.delete(np.delete(keep, masked_frames, 0), masked_bins, 1)
    assert rest.all()
    bands.append(len(masked_bins))
    spans.append(len(masked_frames))
  assert np.mean(bands) > 8 and np.mean(spans) > 4  # Widths drawn in 0..15 and 0..length // 5.
  a = models.spec_augment_mask(jax.random.PRNGKey(1), 60, 100, 80, 2, 15, 2, 20)
  np.testing.assert_array_equal(a, models.spec_augment_mask(jax.random.PRNGKey(1), 60, 100,
                                                            80, 2, 15, 2, 20))
  masks = {np.asarray(models.spec_augment_mask(jax.random.PRNGKey(s), 60, 100, 80, 2, 15, 2,
                                               20)).tobytes() for s in range(20)}
  assert len(masks) > 15


def test_front_end_subsamples_ignores_loudness_and_padding():
  rng = np.random.default_rng(0)
  utterance = rng.normal(size=(37, 80)).astype(np.float32)
  module = _front_end()
  short = np.zeros((1, 40, 80), np.float32)
  short[0, :37] = utterance
  long = np.zeros((1, 64, 80), np.float32)
  long[0, :37] = utterance
  params = module.init(jax.random.PRNGKey(0), _batch(short, [37]))
  out_short, lengths = module.apply(params, _batch(short, [37]))
  out_long, _ = module.apply(params, _batch(long, [37]))
  assert out_short.shape == (1, 10, 8) and out_long.shape == (1, 16, 8)
  assert int(lengths[0]) == 10  # ceil(ceil(37 / 2) / 2)
  # The padding to 40 or to 64 frames changes none of the real frames' outputs.
  np.testing.assert_allclose(out_short[0, :10], out_long[0, :10], atol=1e-2)
  # A louder recording adds a constant to every log-mel value: normalisation removes it.
  louder = short.copy()
  louder[0, :37] += np.log(4.0)
  np.testing.assert_allclose(module.apply(params, _batch(louder, [37]))[0], out_short, atol=2e-2)


def test_spec_augment_acts_in_training_only_and_follows_the_example_not_its_row():
  rng = np.random.default_rng(1)
  frames = rng.normal(size=(3, 50, 80)).astype(np.float32)
  module = _front_end(freq_masks=2, freq_width=20, time_masks=2, time_width=10)
  batch = _batch(frames, [50, 50, 50], ids=[7, 8, 9])
  params = module.init(jax.random.PRNGKey(0), batch)
  plain = module.apply(params, batch)[0]
  np.testing.assert_array_equal(plain, module.apply(params, batch, train=False)[0])
  key = {"dropout": jax.random.PRNGKey(3)}
  trained = module.apply(params, batch, train=True, rngs=key)[0]
  assert not np.allclose(trained, plain)
  # Example 9 in row 0 of another batch gets the masks it got in row 2.
  moved = _batch(frames[[2, 0, 1]], [50, 50, 50], ids=[9, 7, 8])
  np.testing.assert_allclose(module.apply(params, moved, train=True, rngs=key)[0][0],
                             trained[2], atol=1e-5)


# ---------------------------------------------------------------------------------------------
# The task: data, metrics, train and predict.

SMALL = ["--config=configs/speech.py:num_examples=120,epochs=1,hidden_size=16,encoder_layers=1",
         "--config.task.num_test=24", "--config.batch_size=8", "--config.eval_batch_size=24",
         "--config.task.conv_channels=4", "--config.model.embed_dim=8",
         "--config.log_every_steps=5", "--config.length_buckets=2"]


def _config(**task):
  config = load_config("speech", "num_examples=120")
  config.task.num_test = 24
  config.task.update(task)
  return config


def _all(source):
  return source.__getitems__(list(range(len(source))))


@pytest.fixture(scope="module")
def spoken(data_dir):
  """The small spoken-arithmetic dataset of `_config()`: (config, split -> records). SMALL's
  runs read the same dataset from the same data dir."""
  config = _config()
  sources = speech.load(config.task, data_dir)
  return config, {split: _all(src) for split, src in sources.items()}


@needs_voices
def test_held_out_voice_speaks_only_the_test_split(spoken):
  config, records = spoken
  assert sorted(records) == ["test", "test_seen", "train", "validation"]
  sizes = [len(records[s]) for s in ("train", "validation", "test", "test_seen")]
  assert sizes == [108, 12, 24, 24]
  speakers = {s: {r["speaker"].decode() for r in rs} for s, rs in records.items()}
  assert speakers["test"] == {"flite:rms"} == {config.task.held_out_voice}
  for split in ("train", "validation", "test_seen"):
    assert "flite:rms" not in speakers[split]
  assert len(speakers["train"]) > 20  # flite voices and many espeak-ng accents and variants.
  assert {"flite:kal16", "flite:slt", "flite:awb"} & speakers["train"]
  voices = {str(v) for v in speech.training_voices(config.task)}
  assert speakers["train"] <= voices and "flite:rms" not in voices
  # Holding out kal holds out its 16 kHz twin, the same speaker.
  kal = {str(v) for v in speech.training_voices(_config(held_out_voice="flite:kal").task)}
  assert not {"flite:kal", "flite:kal16"} & kal and "flite:rms" in kal
  # test and test_seen are the same questions, never asked in training.
  texts = {s: [r["text"].decode() for r in rs] for s, rs in records.items()}
  assert sorted(texts["test"]) == sorted(texts["test_seen"])
  assert not set(texts["train"]) & (set(texts["test"]) | set(texts["validation"]))
  for r in records["train"][:5]:
    frames = r["features"]
    assert frames.dtype == np.float16 and frames.shape[1] == 80 and 80 < len(frames) < 700


@pytest.mark.slow
@needs_voices
def test_synthesis_is_deterministic(spoken, tmp_path):
  config, records = spoken
  again = speech.load(config.task, str(tmp_path / "tfds"))  # Built anew in another data dir.
  first = {r["name"]: r["features"] for r in records["validation"]}
  for r in _all(again["validation"]):
    np.testing.assert_array_equal(r["features"], first[r["name"]])
  other = speech.load(_config(seed=1).task, str(tmp_path / "tfds"))
  assert {r["text"] for r in _all(other["test"])} != {r["text"] for r in records["test"]}


def test_wer_and_cer_are_jiwers_and_a_word_is_a_number_or_an_operator():
  import jiwer  # pylint: disable=import-outside-toplevel
  task = speech.Task(tokenizer=None, max_frames=10, target_length=8, dataset="arithmetic",
                     conv_layers=2, conv_channels=4, spec_augment=(0, 0, 0, 0))
  hyps, refs = ["12+345", "7+8", "99+1"], ["12+345", "7+9", "9+1"]
  m = task.text_metrics(hyps, [[r] for r in refs])
  assert m["exact_match"] == pytest.approx(1 / 3)
  assert m["wer"] == pytest.approx(2 / 9)  # One of 3 words wrong in each of two questions.
  assert m["cer"] == pytest.approx(jiwer.cer(refs, hyps)) == pytest.approx(2 / 12)
  assert speech.words("12+345", "arithmetic") == "12 + 345"
  sentences = speech.Task(tokenizer=None, max_frames=10, target_length=8, dataset="manifest",
                          conv_layers=2, conv_channels=4, spec_augment=(0, 0, 0, 0))
  hyps, refs = ["the cat sat", "a dog"], ["the cat sat down", "a dog"]
  assert sentences.text_metrics(hyps, [[r] for r in refs])["wer"] == pytest.approx(
      jiwer.wer(refs, hyps)) == pytest.approx(1 / 6)
  assert sentences.text_metrics([""], [["a dog"]])["wer"] == 1.0  # An empty prediction.


@pytest.mark.slow
@needs_voices
def test_train_then_transcribe_wav_files(tmp_path, data_dir):
  """A tiny run (joint CTC-attention) reports CER and WER on the held-out voice (`test`) and
  the seen voices (`test_seen`), greedy and beam, plots attention over the spectrogram;
  s2s.predict transcribes WAV files and refuses bad ones in one line."""
  workdir = tmp_path / "run"
  result = run_cli("s2s.train", [*SMALL, f"--workdir={workdir}", f"--config.data_dir={data_dir}",
                                 "--config.beam_size=2", "--config.num_attention_plots=1",
                                 "--config.model.ctc_weight=0.3"])
  assert result.returncode == 0, result.stderr
  train = [e for e in read_metrics(workdir) if e["split"] == "train"]
  assert train and all(0 < e["ctc_loss"] < 100 for e in train)
  events = {e["split"]: e for e in read_metrics(workdir)}
  for split in ("test", "test_seen"):
    for name in ("exact_match", "cer", "wer", "wer_beam2"):
      assert 0 <= events[split][name] <= (1 if name == "exact_match" else 5), (split, name)
  assert os.listdir(workdir / "attention") == ["validation_0.png"]

  files = []
  for i, (text, voice) in enumerate([("12+345", "flite:rms"), ("7+8", "espeak:en-us")]):
    files.append(str(tmp_path / f"q{i}.wav"))
    audio.write_wav(files[-1], audio.synthesize(audio.spoken_expression(text),
                                                audio.Voice.parse(voice)), rate=22050)
  check_predict_files(workdir, files, tmp_path / "plots", "0123456789+")
  check_predict_refuses_bad_files(workdir, tmp_path, ".wav")
  long = tmp_path / "long.wav"
  audio.write_wav(str(long), np.zeros(16000 * 30, np.float32))
  assert_user_error(run_cli("s2s.predict", [f"--workdir={workdir}", str(long)]), "long.wav",
                    "30.0 s")


def _recordings(tmp_path, count):
  """A manifest of `count` short WAV clips of two-word sentences, and its directory."""
  words = ["red", "green", "blue", "cat", "dog", "bird"]
  clips = tmp_path / "clips"
  clips.mkdir()
  lines = []
  for i in range(count):
    text = f"{words[i % 3]} {words[3 + (i // 3) % 3]}"
    audio.write_wav(str(clips / f"c{i}.wav"), audio.synthesize(
        text, audio.Voice("flite", "kal16" if i % 2 else "slt")), rate=8000 if i % 3 else 16000)
    lines.append(f"clips/c{i}.wav\t{text}")
  return lines


@needs_voices
def test_manifest_recordings_skip_and_count_bad_lines_and_files(tmp_path, capsys):
  lines = _recordings(tmp_path, 40)
  (tmp_path / "clips" / "broken.wav").write_text("not audio")
  (tmp_path / "clips" / "empty.wav").write_bytes(b"")
  manifest = tmp_path / "clips.tsv"
  manifest.write_text("\n".join(lines + [
      "# a comment", "", "clips/missing.wav\tred cat", "clips/broken.wav\tred dog",
      "clips/empty.wav\tblue dog", "no tab here"]) + "\n")
  config = _config(dataset="manifest", manifest=str(manifest), val_fraction=0.2,
                   test_fraction=0.2)
  sources = speech.load(config.task, str(tmp_path / "tfds"))
  out = capsys.readouterr().out
  assert "skipped" in out and "1 (a missing file)" in out and "2 (an unreadable file)" in out
  assert "1 (a line without a tab)" in out
  records = [r for src in sources.values() for r in _all(src)]
  assert len(records) == 40
  assert {r["text"].decode() for r in records} == {l.split("\t")[1] for l in lines}
  # Every clip, whatever its rate, is 16 kHz frames: about 100 per second of speech.
  assert all(50 < len(r["features"]) < 400 for r in records)
  names = {s: {r["name"].decode() for r in _all(src)} for s, src in sources.items()}
  assert not names["train"] & (names["validation"] | names.get("test", set()))


@needs_voices
def test_manifest_errors_are_one_line(tmp_path, data_dir):
  def train(manifest, *extra):
    return run_cli("s2s.train", [f"--config=configs/speech.py:dataset=manifest,manifest={manifest}",
                                 f"--workdir={tmp_path / 'run'}", f"--config.data_dir={data_dir}",
                                 *extra])
  assert_user_error(train(tmp_path / "none.tsv"), "config.task.manifest", "does not exist")
  assert_user_error(train(tmp_path), "is a directory")
  only_bad = tmp_path / "bad.tsv"
  only_bad.write_text("clips/missing.wav\thello\nno tab\n")
  assert_user_error(train(only_bad), "leaves no usable train recordings")
  assert_user_error(train(only_bad, "--config.task.target=answer"), "dataset='arithmetic'")
  assert_user_error(run_cli("s2s.train", [
      "--config=configs/speech.py:held_out_voice=espeak:en-us", f"--workdir={tmp_path / 'r2'}",
      f"--config.data_dir={data_dir}"]), "config.task.held_out_voice", "not a flite voice")


@needs_voices
def test_perturbation_settings_reach_every_job():
  """speed, pitch and min_snr_db draw each utterance's conditions; 0 turns each off (the
  ablation's row without perturbation really has none)."""
  def jobs_of(**task):
    plans = speech._arithmetic_jobs(_config(**task).task)  # pylint: disable=protected-access
    return [job for rows in plans.values() for *_, job in rows]

  jobs = jobs_of()
  speeds, pitches = [j[2] for j in jobs], [j[3] for j in jobs]
  assert 0.85 <= min(speeds) < 0.9 and 1.1 < max(speeds) <= 1.15
  assert 0.85 <= min(pitches) < 0.9 and 1.1 < max(pitches) <= 1.15
  assert {j[5] for j in jobs} == {(15.0, 40.0)} and {j[6] for j in jobs} == {(0.9, 1.1)}
  assert len({j[4] for j in jobs}) == len(jobs)  # Each its own noise seed.
  plain = jobs_of(speed=0.0, pitch=0.0, min_snr_db=0.0)
  assert {(j[2], j[3], j[5], j[6]) for j in plain} == {(1.0, 1.0, None, None)}
  flite_only = jobs_of(flite_share=1.0)
  assert {j[1] for j in flite_only} == {"flite:kal", "flite:kal16", "flite:awb", "flite:slt",
                                        "flite:rms"}
  # The ablation's row without perturbation cleans the training speech only: every other
  # split is the same audio, so its test figures compare with the default's.
  default = speech._arithmetic_jobs(_config().task)  # pylint: disable=protected-access
  clean = speech._arithmetic_jobs(_config(perturb_train=False).task)  # pylint: disable=protected-access
  assert {(j[2], j[3], j[5], j[6]) for *_, j in clean["train"]} == {(1.0, 1.0, None, None)}
  assert [(r[:3], r[3][:2], r[3][4]) for r in clean["train"]] == [
      (r[:3], r[3][:2], r[3][4]) for r in default["train"]]  # Same questions, voices, seeds.
  for split in ("validation", "test", "test_seen"):
    assert clean[split] == default[split], split
  # A dataset of its own.
  names = {speech.SpeechConfig(_config(**t).task).name for t in ({}, {"perturb_train": False})}
  assert len(names) == 2


# Spoken sentences --------------------------------------------------------------------------

_PLAIN_PAIRS = [(f"{verb} the {thing}", f"{fr_verb} le {fr_thing}")
                for verb, fr_verb in [("Open", "Ouvrir"), ("Close", "Fermer"), ("Save", "Enregistrer"),
                                      ("Print", "Imprimer"), ("Delete", "Supprimer"),
                                      ("Copy", "Copier")]
                for thing, fr_thing in [("file", "fichier"), ("window", "fenêtre"),
                                        ("folder", "dossier"), ("document", "document"),
                                        ("page", "page"), ("message", "message"),
                                        ("picture", "image")]]


def _write_po(root, pairs, lang="fr"):
  """A gettext tree with one catalog of `pairs` in `lang`: the corpus the sentences read."""
  messages = os.path.join(root, lang, "LC_MESSAGES")
  os.makedirs(messages, exist_ok=True)
  with open(os.path.join(messages, "demo.po"), "w", encoding="utf-8") as f:
    f.write('msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n')
    for english, translated in pairs:
      f.write(f'msgid "{english}"\nmsgstr "{translated}"\n\n')
  return str(root)


def _sentence_config(root, **task):
  config = load_config("speech", "dataset=sentences")
  config.task.update(corpus_path=root, num_test=6, **task)
  return config


def test_spoken_sentences_are_plain_words_and_never_cross_splits(tmp_path):
  odd = [("_Open the recent file", "_Ouvrir le fichier récent"),  # An accelerator mark.
         ("Open the recent file.", "Ouvrir le fichier récent."),  # Reads the same: one sentence.
         ("--force-overwrite", "--force-overwrite"),  # Not words.
         ("Quit", "Quitter"),  # One word.
         ("Saved %s files", "%s fichiers enregistrés"),  # A format specifier.
         ("Don't save read-only files?", "Ne pas enregistrer les fichiers en lecture seule ?")]
  root = _write_po(tmp_path / "locale", _PLAIN_PAIRS + odd)
  splits = speech.sentence_splits(_sentence_config(root).task)
  spoken = {s: [words for words, _ in pairs] for s, pairs in splits.items()}
  texts = {s: [text for _, text in pairs] for s, pairs in splits.items()}
  every = [w for ws in spoken.values() for w in ws]
  assert len(every) == len(_PLAIN_PAIRS) + 2 == len(set(every))
  assert "Open the recent file" in every or "Open the recent file." in every
  assert "Don't save read-only files?" in every
  for split in spoken:  # The target is what was said, lowercase and without punctuation.
    assert texts[split] == [speech.normalize_transcript(w) for w in spoken[split]]
  assert speech.normalize_transcript("Don't save read-only files?") == "don't save read only files"
  assert not set(texts["train"]) & (set(texts["test"]) | set(texts["validation"]))
  assert not set(texts["validation"]) & set(texts["test"])
  assert 0 < len(texts["test"]) <= 6 and len(texts["train"]) > 20
  # At most num_examples training sentences, drawn by the seed.
  fewer = speech.sentence_splits(_sentence_config(root, num_examples=10).task)
  assert len(fewer["train"]) == 10 and set(fewer["train"]) <= set(splits["train"])
  # Speech translation: the same sentences, their French translation as the target.
  french = speech.sentence_splits(_sentence_config(root, target="translation").task)
  assert [w for w, _ in french["test"]] == spoken["test"]
  assert all(t in dict(_PLAIN_PAIRS + odd).values() or t == "Ouvrir le fichier récent"
             for _, t in french["train"] + french["test"])
  assert "_" not in "".join(t for _, t in french["train"] + french["test"])


def test_sentence_config_errors_are_one_line(tmp_path, data_dir):
  def train(*args):
    return run_cli("s2s.train", ["--config=configs/speech.py:dataset=sentences",
                                 f"--workdir={tmp_path / 'run'}", f"--config.data_dir={data_dir}",
                                 *args])
  assert_user_error(train(f"--config.task.corpus_path={tmp_path / 'none'}"),
                    "config.task.corpus_path", "not a directory")
  assert_user_error(train("--config.task.target=answer"), "dataset='arithmetic'")
  assert_user_error(run_cli("s2s.train", [
      "--config=configs/speech.py", "--config.task.target=translation",
      f"--workdir={tmp_path / 'r2'}", f"--config.data_dir={data_dir}"]), "dataset='sentences'")
  empty = _write_po(tmp_path / "empty", [("Quit", "Quitter")])
  assert_user_error(train(f"--config.task.corpus_path={empty}"), "too few plain English")
  assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
@needs_voices
def test_spoken_sentences_train_for_recognition_and_translation(tmp_path, data_dir):
  """A tiny speech translation run: the held-out voice speaks the test sentences, the
  training voices `test_seen`; BLEU and chrF are reported beside WER and CER."""
  root = _write_po(tmp_path / "locale", _PLAIN_PAIRS)
  workdir = tmp_path / "run"
  result = run_cli("s2s.train", ["--config=configs/speech.py:dataset=sentences,"
                                 "target=translation,num_examples=30,epochs=1,hidden_size=16,"
                                 "encoder_layers=1", *SMALL[1:],
                                 f"--config.task.corpus_path={root}", "--config.task.num_test=6",
                                 f"--workdir={workdir}", f"--config.data_dir={data_dir}"])
  assert result.returncode == 0, result.stderr
  events = {e["split"]: e for e in read_metrics(workdir)}
  for split in ("validation", "test", "test_seen"):
    for name in ("wer", "cer", "bleu", "chrf", "exact_match"):
      assert name in events[split], (split, name)
    assert 0 <= events[split]["bleu"] <= 100
  sources = speech.load(_sentence_config(root, target="translation", num_examples=30).task,
                        str(data_dir))
  speakers = {s: {r["speaker"].decode() for r in _all(src)} for s, src in sources.items()}
  assert speakers["test"] == {"flite:rms"} and "flite:rms" not in speakers["test_seen"]
  texts = {r["text"].decode() for r in _all(sources["test"])}
  assert texts <= {fr for _, fr in _PLAIN_PAIRS}


@pytest.mark.slow
@needs_voices
def test_the_speech_translation_cascade_uses_only_sentences_both_models_never_saw(tmp_path,
                                                                                  data_dir):
  """experiments/speech/cascade.py: a recogniser, then a text translator, on the spoken test
  sentences that are also in the translator's test split and in none of its training pairs;
  wrong runs are one-line errors."""
  root = _write_po(tmp_path / "locale", _PLAIN_PAIRS)
  tiny = ["--config.num_steps=4", "--config.batch_size=8", "--config.num_samples=0",
          "--config.model.embed_dim=8", f"--config.data_dir={data_dir}"]
  # One length bucket: the cascade is under test here, not the buckets (SMALL's runs have 2).
  speech_args = [f"--config.task.corpus_path={root}", "--config.task.num_test=6",
                 "--config.task.test_fraction=0.2", "--config.length_buckets=0",
                 "--config.task.conv_channels=4", "--config.eval_batch_size=6",
                 "--config.num_attention_plots=0"]
  runs = {}
  runs["recogniser"] = tmp_path / "recogniser"
  result = run_cli("s2s.train", ["--config=configs/speech.py:dataset=sentences,hidden_size=16,"
                                 "encoder_layers=1", *speech_args, *tiny,
                                 f"--workdir={runs['recogniser']}"])
  assert result.returncode == 0, result.stderr
  runs["translator"] = tmp_path / "translator"
  result = run_cli("s2s.train", [f"--config=configs/translation.py:path={root},tokenizer=char,"
                                 "hidden_size=16", "--config.task.test_fraction=0.5",
                                 "--config.task.val_fraction=0.1", "--config.eval_batch_size=8",
                                 *tiny, f"--workdir={runs['translator']}"])
  assert result.returncode == 0, result.stderr

  def cascade(*args):
    return run([sys.executable, "experiments/speech/cascade.py", *args,
                f"--out={tmp_path / 'out'}", "--beam=2"], cwd=ROOT,
               capture_output=True, text=True, timeout=600)

  result = cascade(f"--recogniser={runs['recogniser']}", f"--translator={runs['translator']}")
  assert result.returncode == 0, result.stderr
  table = (tmp_path / "out" / "results.md").read_text()
  for row in ("the corpus's English", "the true transcript", "the recogniser's transcript"):
    assert re.search(rf"\| {row}[^|]*\| [\d.]+ \| [\d.]+ \| [\d.]+ \|", table), table
  rows = (tmp_path / "out" / "samples.tsv").read_text().splitlines()[1:]
  held_out = [line.split("\t")[1] for line in rows]
  assert held_out
  # Each in the spoken test split, and in the translator's test split, never in its training.
  spoken_test = [w for w, _ in speech.sentence_splits(
      _sentence_config(root, test_fraction=0.2).task)["test"]]
  split = corpora.split(_PLAIN_PAIRS, val_fraction=0.1, test_fraction=0.5)
  assert set(held_out) <= set(spoken_test)
  assert set(held_out) <= {en for en, _ in split["test"]}
  assert not set(held_out) & {en for en, _ in split["train"]}

  assert_user_error(cascade(f"--recogniser={runs['translator']}",
                            f"--translator={runs['translator']}"), "not a spoken-sentence")
  assert_user_error(cascade(f"--recogniser={runs['recogniser']}",
                            f"--translator={runs['translator']}",
                            f"--end_to_end={runs['recogniser']}"), "not a speech -> text")
  assert_user_error(cascade(f"--recogniser={runs['recogniser']}",
                            f"--translator={tmp_path / 'none'}"), "is not a directory")
  assert_user_error(cascade(f"--recogniser={runs['recogniser']}",
                            f"--translator={runs['recogniser']}"), "not a gettext translation")
