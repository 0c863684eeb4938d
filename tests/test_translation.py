"""Translation end to end: corpus -> TFDS splits -> tokenizers -> attention model -> BLEU,
beam search and the translate command; and the user errors on the way."""

import json
import random

import pytest
import tensorflow_datasets as tfds

from conftest import assert_user_error, optimized, read_metrics, run_cli
from s2s import dataset
from s2s import sweeps
from s2s.errors import UserError

# A toy English -> French grammar with reordering: adjectives follow the noun in French.
NOUNS = {"cat": "chat", "dog": "chien", "house": "maison", "car": "voiture", "tree": "arbre"}
ADJECTIVES = {"red": "rouge", "big": "grand", "small": "petit", "green": "vert", "blue": "bleu"}


def noun_phrase(rng):
  noun = rng.choice(sorted(NOUNS))
  if rng.random() < 0.6:
    adjective = rng.choice(sorted(ADJECTIVES))
    return f"{adjective} {noun}", f"{NOUNS[noun]} {ADJECTIVES[adjective]}"
  return noun, NOUNS[noun]


def synthetic_pairs(n, seed=0):
  rng, pairs, seen = random.Random(seed), [], set()
  while len(pairs) < n:
    phrases = [noun_phrase(rng) for _ in range(rng.randint(1, 3))]
    source = " and ".join(en for en, _ in phrases)
    if source not in seen:
      seen.add(source)
      pairs.append((source, " et ".join(fr for _, fr in phrases)))
  return pairs


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  path = tmp_path_factory.mktemp("corpus") / "pairs.txt"
  lines = [f"{en}\t{fr}\tCC-BY synthetic" for en, fr in synthetic_pairs(2500)]
  lines.insert(5, "a line without a tab")  # Skipped and counted, not fatal.
  path.write_text("\n".join(lines) + "\n")
  return str(path)


def translation_args(corpus, data_dir, *extra, arg=""):
  return [f"--config=configs/translation.py:corpus=tsv,path={corpus},max_chars=0,"
          f"hidden_size=64{arg}",
          "--config.model.embed_dim=32", "--config.model.dropout=0",
          "--config.batch_size=32", "--config.warmup_steps=50", "--config.log_every_steps=50",
          "--config.beam_size=3", f"--config.data_dir={data_dir}", *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, corpus, data_dir):
  workdir = tmp_path_factory.mktemp("translation") / "run"
  with optimized():  # Learning for up to 15 epochs: XLA's optimizations pay for themselves.
    result = run_cli("s2s.train", translation_args(
        corpus, data_dir, f"--workdir={workdir}",
        "--config.stop_at=exact_match>=0.98",
        arg=",tokenizer=spm,vocab_size=40,attention=bahdanau,epochs=15"))
  assert result.returncode == 0, result.stderr
  return workdir, result


def test_a_synthetic_corpus_is_learned_and_scored(trained):
  workdir, result = trained
  assert "2,500 pairs from 1 file; skipped: 1 wrong column count" in result.stdout
  test = [e for e in read_metrics(workdir) if e["split"] == "test"][-1]
  assert test["exact_match"] >= 0.95 and test["bleu"] >= 95 and test["chrf"] >= 95
  assert test["exact_match_beam3"] >= 0.95 and test["bleu_beam3"] >= 95
  # The sample table shows translations; heatmaps and the tokenizers are in the workdir.
  assert "chien" in result.stdout
  assert sorted(p.name for p in (workdir / "attention").iterdir()) == [
      f"validation_{i}.png" for i in range(4)]
  saved = json.loads((workdir / "task.json").read_text())
  assert saved["tokenizer"] == "spm" and saved["target_vocab_size"] <= 40
  assert (workdir / "source_tokenizer.model").exists()


def test_translate_command_greedy_beam_and_stdin(trained, corpus):
  workdir, _ = trained
  pairs = synthetic_pairs(2500)[-20:]
  queries = [en for en, _ in pairs]
  for extra in ([], ["--beam=3", "--alpha=0.6"]):
    result = run_cli("s2s.predict", [f"--workdir={workdir}", *extra, *queries])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().split("\n")
    assert [l.split("\t")[0] for l in lines] == queries
    right = sum(l.split("\t")[1] == fr for l, (_, fr) in zip(lines, pairs))
    assert right >= 18, lines
  result = run_cli("s2s.predict", [f"--workdir={workdir}"], stdin="red cat\n\nsmall dog\n")
  assert result.stdout.split("\n")[:2] == ["red cat\tchat rouge", "small dog\tchien petit"]
  plots = workdir.parent / "plots"
  result = run_cli("s2s.predict", [f"--workdir={workdir}", f"--plot_attention={plots}",
                                   "red cat", "big dog and small tree"])
  assert result.returncode == 0, result.stderr
  assert sorted(p.name for p in plots.iterdir()) == ["query_1.png", "query_2.png"]
  # Words and characters never seen in training are unk, not a crash.
  result = run_cli("s2s.predict", [f"--workdir={workdir}", "zebra 漢字"])
  assert result.returncode == 0 and result.stdout.startswith("zebra 漢字\t"), result.stderr
  assert_user_error(run_cli("s2s.predict", [f"--workdir={workdir}", " "]), "empty")
  assert_user_error(run_cli("s2s.predict", [f"--workdir={workdir}", "--beam=0", "cat"]),
                    "--beam")


def test_char_level_luong_reversed(tmp_path, corpus, data_dir):
  workdir = tmp_path / "run"
  result = run_cli("s2s.train", translation_args(
      corpus, data_dir, f"--workdir={workdir}", "--config.num_steps=40",
      "--config.eval_every_steps=40", arg=",tokenizer=char,attention=luong,reverse=True"))
  assert result.returncode == 0, result.stderr
  saved = json.loads((workdir / "task.json").read_text())
  # Characters of "small cat and green house and ..." plus the specials; lengths in chars.
  longest = max(len(en) for en, _ in synthetic_pairs(2500))
  assert saved["query_length"] == longest
  assert saved["target_vocab_size"] == 4 + len(set("".join(fr for _, fr in synthetic_pairs(2500))))
  result = run_cli("s2s.predict", [f"--workdir={workdir}", "--beam=2", "red cat"])
  assert result.returncode == 0, result.stderr


def test_splits_are_disjoint_by_source_and_cover_the_corpus(tmp_path, corpus, data_dir):
  config = sweeps.resolve_config(f"configs/translation.py:corpus=tsv,path={corpus},max_chars=0",
                                 {})
  sources = dataset.load(config.task, data_dir)
  seen = {}
  for split, src in sources.items():
    seen[split] = {r["source"].decode() for r in src.__getitems__(list(range(len(src))))}
  assert sum(len(s) for s in seen.values()) == 2500
  assert not (seen["train"] & seen["validation"] or seen["train"] & seen["test"]
              or seen["validation"] & seen["test"])
  assert 0.02 < len(seen["test"]) / 2500 < 0.08


@pytest.mark.parametrize("arg, extra, words", [
    (",path=tests/fixtures/translation/malformed.txt", [], ["malformed.txt"]),
    (",corpus=gettext,path=tests/fixtures/translation/locale,tgt=ja", [],
     ["ja/LC_MESSAGES", "fr", "corpus=tsv"]),
    (",corpus=gettext,path=/no/such/locale", [], ["/no/such/locale", "corpus=tsv"]),
    (",corpus=gettext,path=tests/fixtures/translation/locale,src=de,tgt=fr", [],
     ["must be 'en'"]),
    (",corpus=tfds,path=ted_hrlr_translate/pt_to_en,src=pt,tgt=en", [], ["not prepared"]),
    (",tokenizer=bpe", [], ["config.task.tokenizer"]),
    (",attention=global", [], ["config.model.attention"]),
    ("", ["--config.model.name=repeat"], ["config.model.attention"]),
])
def test_bad_translation_inputs(tmp_path, corpus, data_dir, arg, extra, words):
  args = translation_args(corpus, data_dir, f"--workdir={tmp_path / 'run'}", *extra, arg=arg)
  assert_user_error(run_cli("s2s.train", args), *words)
  assert not (tmp_path / "run" / "checkpoints").exists()


def test_translation_table_sweep():
  runs = sweeps.load_sweep("configs/translation.py", "table")
  assert len(runs) == 12 and len(set(sweeps.run_names(runs))) == 12
  configs = [sweeps.resolve_config("configs/translation.py", run) for run in runs]
  assert {(c.model.attention, c.task.reverse, c.seed) for c in configs} == {
      (a, r, s) for a in ("none", "bahdanau", "luong") for r in (False, True) for s in (0, 1)}
  assert {(c.task.corpus, c.task.src, c.task.tgt, c.beam_size) for c in configs} == {
      ("gettext", "en", "fr", 5)}


class ToyPtEn(tfds.core.GeneratorBasedBuilder):
  """A TFDS translation dataset laid out as TFDS's own are: one Text feature per language."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
        {"pt": tfds.features.Text(), "en": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    return {split: self._generate_examples(split) for split in ("train", "validation", "test")}

  def _generate_examples(self, split):
    for i in range(5):
      yield i, {"pt": f"gato {split} {i}", "en": f"cat {split} {i}"}


def test_a_prepared_tfds_translation_dataset_is_read_by_name(tmp_path):
  data_dir = str(tmp_path / "tfds")
  ToyPtEn(data_dir=data_dir, file_format="array_record").download_and_prepare()
  config = sweeps.resolve_config(
      "configs/translation.py:corpus=tfds,path=toy_pt_en,src=pt,tgt=en", {})
  sources = dataset.load(config.task, data_dir)
  assert sorted(sources) == ["test", "train", "validation"]
  assert len(sources["validation"]) == 5
  records = sources["validation"].__getitems__(list(range(5)))
  assert sorted((r["source"].decode(), r["target"].decode()) for r in records) == [
      (f"gato validation {i}", f"cat validation {i}") for i in range(5)]
  # The language keys must exist in the dataset.
  config.task.src = "de"
  with pytest.raises(UserError, match="languages"):
    dataset.load(config.task, data_dir)
