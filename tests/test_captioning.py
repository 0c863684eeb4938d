"""Image captioning: the user's COCO-format data (images or precomputed features) round trips
through the prepared dataset with every reference; the handwritten-arithmetic images keep
their handwriting pools apart; a trained model captions a PNG file; bad images and bad JSON
are one-line errors."""

import json
import os
import shutil

import jax
import ml_collections
import numpy as np
import pytest

from conftest import (assert_user_error, check_predict_files, check_predict_refuses_bad_files,
                      load_config, read_metrics, run_cli)
from s2s import checkpoints
from s2s import config as config_lib
from s2s import dataset
from s2s import images
from s2s import sweeps
from s2s import tokenizers
from s2s.errors import UserError
from s2s.tasks import captioning

COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
SHAPES = ("square", "bar")


def _picture(color, shape, size):
  """An RGB picture of a colored square or horizontal bar on black, [20, 30, 3]."""
  image = np.zeros((20, 30, 3), np.uint8)
  h = size if shape == "square" else max(2, size // 3)
  image[10 - h // 2:10 - h // 2 + h, 15 - size // 2:15 - size // 2 + size] = COLORS[color]
  return image


def make_coco(root, count=40):
  """A COCO-layout captions JSON and its image directory: `count` PNGs of colored shapes,
  each with 2 or 3 captions (capitals and punctuation as people write them)."""
  image_dir = root / "images"
  image_dir.mkdir(parents=True)
  data = {"images": [], "annotations": []}
  for i in range(count):
    color, shape = list(COLORS)[i % 3], SHAPES[(i // 3) % 2]
    name = f"img_{i:03d}.png"
    images.write_png(str(image_dir / name), _picture(color, shape, 6 + 2 * (i % 4)))
    data["images"].append({"id": 1000 + i, "file_name": name})
    captions = [f"A {color} {shape}.", f"a {shape} that is {color}", f"The {color} {shape}!"]
    for caption in captions[:2 + i % 2]:
      data["annotations"].append({"id": len(data["annotations"]), "image_id": 1000 + i,
                                  "caption": caption})
  path = root / "captions.json"
  path.write_text(json.dumps(data))
  return path, image_dir, data


def coco_config(captions, **fields):
  config = ml_collections.ConfigDict(
      {k: v for k, v in _default_task().items()} | {"dataset": "coco", "captions": str(captions),
                                                    "tokenizer": "word", "min_word_count": 1,
                                                    "max_caption_words": 0} | fields)
  return config


def _default_task():
  return _load_config("").task.to_dict()


def _load_config(arg):
  return load_config("captioning", arg)


def _all(source):
  return source.__getitems__(list(range(len(source))))


def test_coco_fixture_round_trips_with_every_caption(tmp_path):
  captions, image_dir, data = make_coco(tmp_path)
  c = coco_config(captions, images=str(image_dir), image_height=16, image_width=24, channels=3)
  sources = captioning.load(c, str(tmp_path / "tfds"))
  by_id = {}
  for note in data["annotations"]:
    by_id.setdefault(note["image_id"], []).append(" ".join(note["caption"].split()))
  names = {im["file_name"]: im["id"] for im in data["images"]}
  seen = set()
  for split, source in sources.items():
    records = _all(source)
    files = {r["name"].decode() for r in records}
    seen |= files
    for name in files:  # Each image in the split its name's hash gives.
      assert dataset.hash_split(name, c.val_fraction, c.test_fraction) == split
    for r in records:
      name = r["name"].decode()
      references = captioning.Task.references(r)
      assert references == by_id[names[name]]  # Every caption, in order, is a reference.
      expected = images.read_image(str(image_dir / name), height=16, width=24, channels=3)
      np.testing.assert_array_equal(r["image"], expected)
    if split == "train":  # One record per caption: the model trains on each.
      assert len(records) == sum(len(by_id[names[f]]) for f in files)
      assert sorted(r["caption"].decode() for r in records) == sorted(
          x for f in files for x in by_id[names[f]])
    else:  # One record per image.
      assert len(records) == len(files)
  assert seen == set(names)  # No image lost, none in two splits (the hash decides once).
  assert all(len(s) for s in sources.values())


def test_karpathy_splits_and_features_as_given(tmp_path):
  """Karpathy's dataset_coco.json keeps its splits (restval trains); features come from a
  directory of .npy grids or one .npz of global vectors, shaped [regions, channels]."""
  rng = np.random.default_rng(0)
  split_of = ["train", "restval", "val", "test"] * 3
  data = {"images": [{"filename": f"x{i}.jpg", "filepath": "val2014", "cocoid": i,
                      "split": split_of[i],
                      "sentences": [{"raw": f"Picture number {i}.", "tokens": []},
                                    {"tokens": ["a", "photo"]}]} for i in range(12)]}
  path = tmp_path / "dataset_coco.json"
  path.write_text(json.dumps(data))
  grids = tmp_path / "grids"
  grids.mkdir()
  for i in range(12):
    np.save(grids / f"x{i}.npy", rng.normal(size=(2, 3, 8)).astype(np.float32))
  np.savez(tmp_path / "fc7.npz", **{f"x{i}": np.full(16, i, np.float32) for i in range(12)})

  c = coco_config(path, features=str(grids))
  sources = captioning.load(c, str(tmp_path / "tfds"))
  expected = {"train": {0, 1, 4, 5, 8, 9}, "validation": {2, 6, 10}, "test": {3, 7, 11}}
  for split, ids in expected.items():
    records = _all(sources[split])
    assert {int(r["name"].decode().split("x")[1].split(".")[0]) for r in records} == ids
    for r in records:
      i = int(r["name"].decode().split("x")[1].split(".")[0])
      np.testing.assert_array_equal(r["features"], np.load(grids / f"x{i}.npy").reshape(6, 8))
      assert captioning.Task.references(r) == [f"Picture number {i}.", "a photo"]

  c = coco_config(path, features=str(tmp_path / "fc7.npz"))
  records = _all(captioning.load(c, str(tmp_path / "tfds"))["test"])
  assert {r["features"].shape for r in records} == {(1, 16)}
  assert sorted(float(r["features"][0, 0]) for r in records) == [3.0, 7.0, 11.0]

  np.save(grids / "x5.npy", np.zeros((4, 8), np.float32))  # Unlike the others: an error.
  with pytest.raises(UserError, match="x5.jpg.*shape"):
    captioning.load(coco_config(path, features=str(grids), seed=1), str(tmp_path / "tfds"))


def test_arithmetic_images_keep_questions_and_handwriting_apart(tmp_path):
  """Validation and test expressions are questions training never saw, drawn in handwriting
  from digit images training never saw (each split composes from its own pool)."""
  c = ml_collections.ConfigDict(_default_task() | {"num_examples": 400, "num_test": 100,
                                                   "digits": 2})
  sources = captioning.load(c, str(tmp_path / "tfds"))
  captions = {s: [r["caption"].decode() for r in _all(src)] for s, src in sources.items()}
  assert [len(captions[s]) for s in ("train", "validation", "test")] == [360, 40, 100]
  assert not set(captions["train"]) & (set(captions["validation"]) | set(captions["test"]))
  # Every digit of a validation or test image is an image of its split's pool as scanned
  # (placed with jitter); training images redraw half of theirs (distort_digits=0.5), and their
  # undistorted digits come from the training pool only.
  assert c.distort_digits == 0.5
  pools = images.digit_pools(c.seed)
  for split, source in sources.items():
    own_count = 0
    for r in _all(source):
      text = r["caption"].decode()
      image = r["image"][..., 0]
      assert image.shape == captioning.input_shape(c)[1][:2]
      if text[0].isdigit() and not text[1].isdigit():  # A single-digit first operand.
        own = _contains_digit(image, pools[split][0])
        others = [_contains_digit(image, pools[s][0]) for s in pools if s != split]
        assert split == "train" or own, (split, text)
        assert not any(others), (split, text)
        own_count += own
    if split == "train":  # Some images show a scanned training digit, some only redrawn ones.
      singles = sum(r["caption"].decode()[1] == "+" for r in _all(source))
      assert 0 < own_count < singles, (own_count, singles)


def _contains_digit(image, pool):
  """Whether some 8x8 window of `image` is exactly one of `pool`'s digit images."""
  h, w = image.shape
  windows = {image[y:y + 8, x:x + 8].tobytes() for y in range(h - 7) for x in range(w - 7)}
  return any(d.tobytes() in windows for d in pool if d.any())


def test_word_tokenizer_round_trip(tmp_path):
  tok = tokenizers.train("word", ["A red square.", "a blue square", "The red bar!"],
                         vocab_size=6, min_count=1)
  assert tok.size == 6  # 4 specials + the 2 most frequent words: "a", "red"/"square".
  assert tok.decode(tok.encode("A red square.")) in ("a red <unk>", "a <unk> square")
  tok = tokenizers.train("word", ["A red square.", "a blue square"], vocab_size=100)
  assert tok.decode(tok.encode("A  Blue square!") + [2, 5]) == "a blue square"
  tok.save(str(tmp_path / "t"))
  again = tokenizers.load("word", str(tmp_path / "t"))
  assert again.encode("a red square") == tok.encode("a red square")
  with pytest.raises(UserError, match="min_count=3 leaves no words"):
    tokenizers.train("word", ["a b", "c"], vocab_size=10, min_count=3)


def test_model_config_rules_for_no_rnn_encoder():
  config = _load_config("encoder_layers=0")
  config_lib.check(config, 1)
  config.model.bidirectional = True
  with pytest.raises(UserError, match="bidirectional=True needs config.model.encoder_layers"):
    config_lib.check(config, 1)
  config = _load_config("encoder_layers=0")
  config.model.name = "repeat"
  config.model.attention = "none"
  with pytest.raises(UserError, match="encoder_layers=0 needs config.model.name"):
    config_lib.check(config, 1)


TRAIN = ["--config=configs/captioning.py:num_examples=400,digits=2,epochs=2,hidden_size=32",
         "--config.task.num_test=40", "--config.task.cnn_width=8", "--config.batch_size=40",
         "--config.eval_batch_size=40", "--config.beam_size=2", "--config.warmup_steps=0",
         "--config.num_attention_plots=2"]


@pytest.mark.slow
def test_train_then_caption_png_files(tmp_path, data_dir):
  """A tiny run reports the captioning metrics and the blank-image check, plots attention
  over images, resumes exactly from a checkpoint (convolutions and all), and s2s.predict
  captions PNG files (greedy, beam) and refuses a bad one."""
  workdir = tmp_path / "run"
  args = [*TRAIN, "--config.checkpoint_every_steps=9", f"--config.data_dir={data_dir}"]
  result = run_cli("s2s.train", [*args, f"--workdir={workdir}"])
  assert result.returncode == 0, result.stderr
  resumed = tmp_path / "resumed"  # Killed after its step-9 checkpoint, then rerun.
  shutil.copytree(workdir, resumed)
  shutil.rmtree(resumed / "checkpoints" / "18")
  (resumed / "done.json").unlink()
  result = run_cli("s2s.train", [*args, f"--workdir={resumed}"])
  assert result.returncode == 0 and "resuming at step 9" in result.stdout, result.stderr
  final, step = checkpoints.restore_params(str(workdir))
  again, step_again = checkpoints.restore_params(str(resumed))
  assert step == step_again == 18
  for x, y in zip(jax.tree.leaves(final), jax.tree.leaves(again), strict=True):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  events = {e["split"]: e for e in read_metrics(workdir)}
  for name in ("exact_match", "cer", "distinct_captions", "exact_match_beam2"):
    assert 0 <= events["test"][name] <= (np.inf if name == "cer" else 1), name
  assert "blank_test" in events
  plots = sorted(os.listdir(workdir / "attention"))
  assert plots == ["validation_0.png", "validation_1.png"]

  pools = images.digit_pools(0)
  rng = np.random.default_rng(5)
  height, width, _ = captioning.input_shape(_load_config("digits=2").task)[1]
  files = []
  for i, text in enumerate(["3+45", "81+6"]):
    files.append(str(tmp_path / f"q{i}.png"))
    # Twice the size: predict resizes to the training size.
    images.write_png(files[-1], np.kron(images.compose_expression(
        text, pools["test"], rng, height=height, width=width), np.ones((2, 2), np.uint8)))
  check_predict_files(workdir, files, tmp_path / "plots", "0123456789+")
  check_predict_refuses_bad_files(workdir, tmp_path, ".png")


@pytest.mark.slow
def test_coco_training_scores_as_coco_does(tmp_path, data_dir):
  captions, image_dir, _ = make_coco(tmp_path, count=30)
  workdir = tmp_path / "run"
  result = run_cli("s2s.train", [
      f"--config=configs/captioning.py:dataset=coco,captions={captions},images={image_dir},"
      f"image_size=16,epochs=3,hidden_size=32", "--config.task.cnn_width=8",
      "--config.task.min_word_count=1", "--config.batch_size=8", "--config.eval_batch_size=8",
      "--config.warmup_steps=0", "--config.beam_size=0", "--config.num_attention_plots=0",
      f"--workdir={workdir}", f"--config.data_dir={data_dir}"])
  assert result.returncode == 0, result.stderr
  test = [e for e in read_metrics(workdir) if e["split"] == "test"][-1]
  for name in ("bleu_1", "bleu_4", "rouge_l", "cider", "distinct_captions"):
    assert name in test and np.isfinite(test[name]), name


@pytest.mark.parametrize("case, words", [
    ("not_json", ("captions.json", "not JSON")),
    ("no_images", ("captions.json", "'images'")),
    ("unknown_image", ("annotations[0]", "image_id 77")),
    ("missing_file", ("gone.png",)),
    ("not_an_image", ("text.png",)),
])
def test_bad_coco_data_is_one_line_error(tmp_path, data_dir, case, words):
  image_dir = tmp_path / "images"
  image_dir.mkdir()
  for i in range(40):  # Enough images that no split is empty, so the bad one is what fails.
    images.write_png(str(image_dir / f"ok{i}.png"), np.zeros((8, 8, 3), np.uint8))
  (image_dir / "text.png").write_text("hello")
  good = {"images": [{"id": i, "file_name": f"ok{i}.png"} for i in range(40)],
          "annotations": [{"image_id": i, "caption": "a black square"} for i in range(40)]}
  text = {
      "not_json": "{'images': []",
      "no_images": json.dumps({"annotations": []}),
      "unknown_image": json.dumps(good | {"annotations": [{"image_id": 77, "caption": "x"}]}),
      "missing_file": json.dumps(good | {"images": good["images"] + [
          {"id": 9, "file_name": "gone.png"}], "annotations": good["annotations"] + [
          {"image_id": 9, "caption": "nothing"}]}),
      "not_an_image": json.dumps(good | {"images": good["images"] + [
          {"id": 9, "file_name": "text.png"}], "annotations": good["annotations"] + [
          {"image_id": 9, "caption": "words"}]}),
  }[case]
  path = tmp_path / "captions.json"
  path.write_text(text)
  result = run_cli("s2s.train", [
      f"--config=configs/captioning.py:dataset=coco,captions={path},images={image_dir}",
      f"--workdir={tmp_path / 'run'}", f"--config.data_dir={data_dir}"])
  assert_user_error(result, *words)


@pytest.mark.slow
def test_precomputed_features_train_without_rnn_encoder_and_predict(tmp_path, data_dir):
  """Show, Attend and Tell on the user's own features: a grid per image, no RNN encoder
  (encoder_layers=0), Bahdanau attention; s2s.predict captions a features file and refuses
  one of another shape."""
  rng = np.random.default_rng(0)
  grids = tmp_path / "grids"
  grids.mkdir()
  data = {"images": [], "annotations": []}
  for i in range(40):
    color = i % 2
    np.save(grids / f"im{i}.npy", (rng.normal(size=(2, 2, 6)) + 3 * color).astype(np.float32))
    data["images"].append({"id": i, "file_name": f"im{i}.jpg"})
    data["annotations"].append({"image_id": i, "caption": ["a dark one", "a bright one"][color]})
  captions = tmp_path / "captions.json"
  captions.write_text(json.dumps(data))
  workdir = tmp_path / "run"
  result = run_cli("s2s.train", [
      f"--config=configs/captioning.py:dataset=coco,captions={captions},features={grids},"
      f"encoder_layers=0,attention=bahdanau,epochs=30,hidden_size=16", "--config.learning_rate=0.01",
      "--config.task.min_word_count=1", "--config.batch_size=8", "--config.eval_batch_size=8",
      "--config.warmup_steps=0", "--config.beam_size=0", "--config.model.dropout=0",
      f"--workdir={workdir}", f"--config.data_dir={data_dir}"])
  assert result.returncode == 0, result.stderr
  test = [e for e in read_metrics(workdir) if e["split"] == "test"][-1]
  blank = [e for e in read_metrics(workdir) if e["split"] == "blank_test"][-1]
  assert test["exact_match"] == 1.0, test  # Two kinds of image, told apart by their features.
  assert blank["distinct_captions"] < test["distinct_captions"] or test["distinct_captions"] == 1
  result = run_cli("s2s.predict", [f"--workdir={workdir}", str(grids / "im1.npy"),
                                   str(grids / "im2.npy")])
  assert result.returncode == 0, result.stderr
  assert [l.split("\t")[1] for l in result.stdout.splitlines()] == ["a bright one", "a dark one"]
  np.save(tmp_path / "wrong.npy", np.zeros((3, 6), np.float32))
  assert_user_error(run_cli("s2s.predict", [f"--workdir={workdir}", str(tmp_path / "wrong.npy")]),
                    "wrong.npy", "(3, 6)")


def test_published_sweeps_keep_their_recipes():
  """experiments/captioning: the `arithmetic` table was trained on 20,000 images for 16 epochs
  and must reproduce so after the default moved to 40,000 for 8; `reading` is the default."""
  path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "configs", "captioning.py")
  default = sweeps.resolve_config(path, {})
  assert (default.task.num_examples, default.num_epochs) == (40_000, 8.0)
  for run in sweeps.load_sweep(path, "arithmetic"):
    config = sweeps.resolve_config(path, run)
    assert (config.task.num_examples, config.num_epochs) == (20_000, 16.0)
  reading = [sweeps.resolve_config(path, run) for run in sweeps.load_sweep(path, "reading")]
  assert [c.seed for c in reading] == [0, 1, 2, 3]
  for config in reading:
    config.seed = default.seed
    assert config.to_dict() == default.to_dict()
