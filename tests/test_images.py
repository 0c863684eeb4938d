"""Image datasets and files: disjoint digit pools, handwritten expressions, Fashion-MNIST scenes
whose captions are all true, and image files read back as written or refused in one sentence.

The Fashion-MNIST reading test needs the Debian package dataset-fashion-mnist
(`apt-get install dataset-fashion-mnist`) and is skipped where it is not installed; the scene
tests compose synthetic photos as well, so the grammar and layout are tested everywhere.
"""

import itertools
import os
import re

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from s2s import images
from s2s.errors import UserError

EXPRESSION = "(12+345)*67-8/9=0"  # Every operator glyph and every digit.


@pytest.fixture(scope="module")
def pools():
  return images.digit_pools(seed=0)


def matches(canvas, image):
  """The (row, column) of every window of `canvas` equal to `image`."""
  windows = sliding_window_view(canvas, image.shape)
  return [tuple(int(v) for v in p) for p in np.argwhere((windows == image).all((-2, -1)))]


def digit_positions(canvas, pool, digit):
  """Where an image of `digit` from `pool` lies pasted unchanged in `canvas`: [(row, column)]."""
  pool_images, labels = pool
  wanted = {image.tobytes() for image in pool_images[labels == digit]}
  windows = sliding_window_view(canvas, (8, 8))
  return [(y, x) for y in range(windows.shape[0]) for x in range(windows.shape[1])
          if windows[y, x].tobytes() in wanted]


def ink_columns(canvas):
  columns = np.flatnonzero(canvas.any(0))
  return columns[0], columns[-1]


# Digit pools.


def test_digit_pools_are_disjoint_stratified_and_hold_every_image():
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel
  digits = load_digits()
  split = images.digit_split_indices(seed=0)
  pools = images.digit_pools(seed=0)
  assert sum(len(index) for index in split.values()) == 1797
  assert len(np.unique(np.concatenate(list(split.values())))) == 1797
  for name, index in split.items():
    pool_images, labels = pools[name]
    assert pool_images.dtype == np.uint8 and pool_images.shape == (len(index), 8, 8)
    assert set(labels) == set(range(10)), name
    np.testing.assert_array_equal(labels, digits.target[index])
    # The pool holds those very images, 0..16 scaled to 0..255.
    np.testing.assert_array_equal(pool_images, np.rint(digits.images[index] * 255 / 16))
  assert [len(split[n]) for n in ("train", "validation", "test")] == [1258, 269, 270]


def test_digit_pools_depend_only_on_the_seed():
  a, b, c = images.digit_pools(seed=0), images.digit_pools(seed=0), images.digit_pools(seed=1)
  for name in a:
    np.testing.assert_array_equal(a[name][0], b[name][0])
    np.testing.assert_array_equal(a[name][1], b[name][1])
  assert not np.array_equal(a["validation"][0], c["validation"][0])


# Operator glyphs.


def test_operator_glyphs_vary_share_the_digits_levels_and_are_told_apart(pools):
  rng = np.random.default_rng(0)
  levels = set(np.rint(np.arange(17) * 255 / 16).astype(np.uint8))
  draws = {op: np.stack([images.operator_glyph(op, rng) for _ in range(300)])
           for op in images.OPERATOR_GLYPHS}
  for op, glyphs in draws.items():
    assert glyphs.dtype == np.uint8 and glyphs.shape == (300, 8, 8)
    # Strokes as dense as the digits' (98% of which have a cell of 16 on-pixels out of 16).
    peaks = glyphs.reshape(300, -1).max(1)
    assert (peaks == 255).mean() >= 0.85 and peaks.min() >= 191, op
    assert set(np.unique(glyphs)) <= levels, op
    assert len(np.unique(glyphs.reshape(300, -1), axis=0)) > 290, op  # A hand never repeats.
  # Recognisable: a nearest-neighbour reader that has seen 200 draws of each operator and the
  # train pool's digits reads fresh draws as their operator and test digits as digits.
  train_images, train_labels = pools["train"]
  seen = np.concatenate([draws[op][:200] for op in draws] + [train_images])
  names = [op for op in draws for _ in range(200)] + [str(d) for d in train_labels]
  seen = seen.reshape(len(seen), -1).astype(float)

  def read(glyphs):
    glyphs = glyphs.reshape(len(glyphs), -1).astype(float)
    distances = (seen**2).sum(1)[None] - 2 * glyphs @ seen.T  # Squared, less |glyph|^2.
    return [names[i] for i in distances.argmin(1)]

  for op in images.OPERATOR_GLYPHS:
    assert np.mean([name == op for name in read(draws[op][200:])]) >= 0.97, op
  test_images, test_labels = pools["test"]
  read_digits = read(test_images)
  assert np.mean([name == str(d) for name, d in zip(read_digits, test_labels)]) >= 0.95
  assert sum(name in images.OPERATOR_GLYPHS for name in read_digits) <= 2  # "1" is not "/".


def test_operator_glyph_is_seeded_and_refuses_unknown_operators():
  a = images.operator_glyph("+", np.random.default_rng(3))
  np.testing.assert_array_equal(a, images.operator_glyph("+", np.random.default_rng(3)))
  with pytest.raises(ValueError, match="'%'"):
    images.operator_glyph("%", np.random.default_rng(0))


# Handwritten expressions.


def test_expression_pastes_pool_digits_in_order_with_small_gaps(pools):
  width = images.expression_width(10)
  starts, rows = set(), set()
  for seed in range(40):
    canvas = images.compose_expression("0123456789", pools["validation"],
                                       np.random.default_rng(seed), height=12, width=width)
    assert canvas.dtype == np.uint8 and canvas.shape == (12, width)
    found = [digit_positions(canvas, pools["validation"], d) for d in range(10)]
    assert all(len(p) == 1 for p in found), (seed, found)  # Whole, uncropped, from the pool.
    ys, xs = zip(*(p[0] for p in found))
    assert all(8 <= b - a <= 8 + images.MAX_GAP for a, b in zip(xs, xs[1:])), xs
    assert all(0 <= y <= 12 - 8 for y in ys)
    rest = canvas.copy()
    for y, x in zip(ys, xs):
      rest[y:y + 8, x:x + 8] = 0
    assert not rest.any()  # Nothing drawn outside the glyphs.
    starts.add(xs[0])
    rows.update(ys)
  assert len(starts) > 3 and rows == set(range(5))


def test_distorted_digits_vary_keep_the_levels_and_stay_readable(pools):
  """A redrawn digit differs from its scan and from other redrawings, has load_digits' 17
  levels, is about the scan when nothing moves, and still shows its digit."""
  from sklearn.svm import SVC  # pylint: disable=import-outside-toplevel
  scans, labels = pools["test"]
  rng = np.random.default_rng(0)
  redrawn = np.stack([images.distort_digit(d, rng) for d in scans])
  assert redrawn.dtype == np.uint8 and redrawn.shape == scans.shape
  assert set(np.unique(redrawn)) <= set(images._LEVELS)  # pylint: disable=protected-access
  assert np.mean([not np.array_equal(a, b) for a, b in zip(redrawn, scans)]) > 0.95
  again = np.stack([images.distort_digit(scans[0], rng) for _ in range(20)])
  assert len({a.tobytes() for a in again}) == 20
  still = np.stack([images.distort_digit(d, rng, degrees=0, shear=0, scale=0, shift=0,
                                         threshold=(0.45, 0.45)) for d in scans])
  step = 255 / 16
  assert np.abs(still.astype(int) - scans).mean() < 1.5 * step  # About one level per pixel.
  assert np.abs(redrawn.astype(int) - scans).mean() > 2 * step  # Really redrawn.
  np.testing.assert_array_equal(images.distort_digit(scans[3], np.random.default_rng(9)),
                                images.distort_digit(scans[3], np.random.default_rng(9)))
  # Redrawings keep the class: a classifier that saw only redrawn training digits reads the
  # scanned test digits (another set of writers) about as well as one that saw the scans.
  train_images, train_labels = pools["train"]
  redrawn_train = np.stack([images.distort_digit(d, rng) for d in train_images])
  def accuracy(train):
    svc = SVC(gamma=0.01, C=10).fit(train.reshape(len(train), -1) / 255, train_labels)
    return (svc.predict(scans.reshape(len(scans), -1) / 255) == labels).mean()
  from_scans, from_redrawn = accuracy(train_images), accuracy(redrawn_train)
  assert from_scans > 0.97 and from_redrawn > from_scans - 0.04, (from_scans, from_redrawn)


def test_expression_redraws_the_requested_share_of_digits(pools):
  """distort=0.5 redraws about half of an expression's digits, distort=1 all of them, keeping
  the levels; distort=0 pastes every digit as scanned (the test above)."""
  rng = np.random.default_rng(1)
  width = images.expression_width(10)
  for distort, low, high in [(0.5, 3.5, 6.5), (1.0, 0, 0.2)]:
    canvases = [images.compose_expression("0123456789", pools["train"], rng, width=width,
                                          distort=distort) for _ in range(20)]
    scanned = np.mean([sum(len(digit_positions(c, pools["train"], d)) for d in range(10))
                       for c in canvases])
    assert low <= scanned <= high, (distort, scanned)
    assert set(np.unique(canvases)) <= set(images._LEVELS)  # pylint: disable=protected-access


def test_expression_width_always_fits_the_longest_text(pools):
  n = len(EXPRESSION)
  width = images.expression_width(n)
  assert width == 8 * n + 2 * (n - 1)
  rng = np.random.default_rng(0)
  for _ in range(150):
    canvas = images.compose_expression(EXPRESSION, pools["test"], rng, width=width)
    assert canvas.shape == (12, width)
    for digit in range(10):
      assert digit_positions(canvas, pools["test"], digit), digit  # No digit cropped.
    first, last = ink_columns(canvas)
    # From the first glyph's ink to the last's: at least the glyphs between them.
    assert 8 * (n - 2) + 2 <= last - first + 1 <= width
  with pytest.raises(ValueError, match=f"at least {width} wide"):
    images.compose_expression(EXPRESSION, pools["test"], rng, width=width - 1)
  with pytest.raises(ValueError, match="height"):
    images.compose_expression("1+2", pools["test"], rng, height=7, width=50)
  with pytest.raises(ValueError, match="'x'"):
    images.compose_expression("1x2", pools["test"], rng, width=50)
  no_sevens = tuple(a[pools["test"][1] != 7] for a in pools["test"])
  with pytest.raises(ValueError, match="digit 7"):
    images.compose_expression("17", no_sevens, rng, width=50)


def test_expressions_depend_only_on_the_seed_and_handwriting_varies(pools):
  def draw(seed):
    return images.compose_expression("12+345", pools["train"], np.random.default_rng(seed),
                                     width=64)
  np.testing.assert_array_equal(draw(5), draw(5))
  assert not np.array_equal(draw(5), draw(6))
  rng = np.random.default_rng(0)
  renderings = [images.compose_expression("7-7", pools["train"], rng, width=30) for _ in range(20)]
  assert len({r.tobytes() for r in renderings}) == 20
  # The sevens themselves differ, not only where they sit: each is drawn afresh from the pool.
  sevens = {r[y:y + 8, x:x + 8].tobytes()
            for r in renderings for y, x in digit_positions(r, pools["train"], 7)}
  assert len(sevens) > 20


# Fashion-MNIST scenes.


def noise_photos(per_class=3, seed=0):
  """Random 28x28 "photos", `per_class` of each Fashion-MNIST class: no two windows alike,
  so where each was pasted can be recovered exactly."""
  rng = np.random.default_rng(seed)
  labels = np.repeat(np.arange(10), per_class)
  return rng.integers(1, 256, (len(labels), 28, 28), dtype=np.uint8), labels


def placements(canvas, photos, labels):
  """[(column, row, class name)] of every photo pasted unchanged in `canvas`, left to right."""
  found = [(x, y, images.FASHION_CLASSES[label])
           for photo, label in zip(photos, labels) for y, x in matches(canvas, photo)]
  return sorted(found)


# The grammar of the module docstring, written out again so the tests do not read its table.
GRAMMAR = {
    2: ["{} and {} from left to right", "{} and {} from right to left", "{} to the left of {}",
        "{} to the right of {}"],
    3: ["{} {} and {} from left to right", "{} {} and {} from right to left",
        "{} to the left of {} and {}", "{} to the right of {} and {}", "{} between {} and {}"],
}
PHRASES = {("an " if n[0] in "aeiou" else "a ") + n: n for n in images.FASHION_CLASSES}
ITEM = "(" + "|".join(PHRASES) + ")"  # A wrong article ("a ankle boot") matches nothing.


def true_of(caption, names):
  """Whether `caption` names each of the items `names` (left to right) once and says something
  true of where they are."""
  def ranks(phrases):
    """The named items' ranks from the left; None unless each item is named exactly once."""
    named = [PHRASES[p] for p in phrases]
    return [names.index(n) for n in named] if sorted(named) == sorted(names) else None

  if m := re.fullmatch(rf"{ITEM}(?: {ITEM})? and {ITEM} from (left|right) to (?:right|left)",
                       caption):
    *phrases, start = m.groups()
    order = ranks([p for p in phrases if p])
    return order is not None and order == sorted(order, reverse=start == "right")
  if m := re.fullmatch(rf"{ITEM} to the (left|right) of {ITEM}(?: and {ITEM})?", caption):
    subject, side, *others = m.groups()
    order = ranks([subject] + [p for p in others if p])
    return order is not None and all(
        (order[0] < o) if side == "left" else (order[0] > o) for o in order[1:])
  if m := re.fullmatch(rf"{ITEM} between {ITEM} and {ITEM}", caption):
    order = ranks(m.groups())
    return order is not None and min(order[1:]) < order[0] < max(order[1:])
  return False


@pytest.mark.parametrize("num_items", [2, 3])
def test_scene_captions_are_every_true_sentence_and_name_every_item(num_items):
  photos, labels = noise_photos()
  width = 28 * num_items + 12
  rng = np.random.default_rng(num_items)
  rows, lefts = set(), set()
  for _ in range(40):
    canvas, captions = images.compose_scene(photos, labels, rng, num_items=num_items, height=36,
                                            width=width)
    assert canvas.dtype == np.uint8 and canvas.shape == (36, width)
    found = placements(canvas, photos, labels)
    assert len(found) == num_items  # Each photo whole, none overlapping another.
    xs, ys, names = zip(*found)
    assert len(set(names)) == num_items  # Distinct classes.
    assert all(b - a >= 28 for a, b in zip(xs, xs[1:]))
    rows.update(ys)
    lefts.add(xs[0])
    assert len(captions) == len(set(captions)) == {2: 4, 3: 8}[num_items]
    assert captions == images.scene_captions(list(names))
    first = captions[0]  # The left-to-right listing, for callers that train on one caption.
    assert first.endswith("from left to right")
    assert [first.index(f" {n} ") for n in names] == sorted(first.index(f" {n} ") for n in names)
    for caption in captions:
      assert all(f" {name} " in f" {caption} " for name in names), caption
      assert true_of(caption, names), (caption, names)
      assert caption == caption.lower() and "  " not in caption
      assert set(caption.split()) <= set(images.scene_words())
  assert len(rows) > 4 and len(lefts) > 4  # Positions vary.


def test_scene_grammar_lists_each_true_sentence_once():
  assert images.scene_captions(["bag", "ankle boot"]) == [
      "a bag and an ankle boot from left to right",
      "an ankle boot and a bag from right to left",
      "a bag to the left of an ankle boot",
      "an ankle boot to the right of a bag"]
  three = images.scene_captions(["coat", "t-shirt", "sandal"])
  assert three == [
      "a coat a t-shirt and a sandal from left to right",
      "a sandal a t-shirt and a coat from right to left",
      "a coat to the left of a t-shirt and a sandal",
      "a coat to the left of a sandal and a t-shirt",
      "a sandal to the right of a coat and a t-shirt",
      "a sandal to the right of a t-shirt and a coat",
      "a t-shirt between a coat and a sandal",
      "a t-shirt between a sandal and a coat"]
  # Nothing true is missing: of every template filled with the items in every order, exactly
  # the true sentences are listed.
  for names in (["bag", "ankle boot"], ["coat", "t-shirt", "sandal"], ["dress", "shirt", "bag"]):
    phrases = [("an " if n[0] in "aeiou" else "a ") + n for n in names]
    candidates = [template.format(*order) for template in GRAMMAR[len(names)]
                  for order in itertools.permutations(phrases)]
    true = [c for c in candidates if true_of(c, names)]
    assert sorted(true) == sorted(images.scene_captions(names))
    assert len(true) == {2: 4, 3: 8}[len(names)]
  assert not true_of("a coat to the left of a t-shirt", ["coat", "t-shirt", "sandal"])


def test_scenes_depend_only_on_the_seed_and_refuse_impossible_layouts():
  photos, labels = noise_photos()

  def draw(seed, **kwargs):
    args = dict(num_items=3, height=34, width=96)
    args.update(kwargs)
    return images.compose_scene(photos, labels, np.random.default_rng(seed), **args)

  (a, captions_a), (b, captions_b), (c, _) = draw(0), draw(0), draw(1)
  np.testing.assert_array_equal(a, b)
  assert captions_a == captions_b and not np.array_equal(a, c)
  with pytest.raises(ValueError, match="2 or 3"):
    draw(0, num_items=4)
  with pytest.raises(ValueError, match="84 wide"):
    draw(0, width=83)
  with pytest.raises(ValueError, match="28 high"):
    draw(0, height=27)
  with pytest.raises(ValueError, match="fewer than 3 classes"):
    images.compose_scene(photos[labels < 2], labels[labels < 2], np.random.default_rng(0),
                         num_items=3, height=28, width=84)


# Fashion-MNIST files.

needs_fashion = pytest.mark.skipif(
    not os.path.exists(images.FASHION_MNIST_DIR),
    reason="apt-get install dataset-fashion-mnist to test reading Fashion-MNIST")


@needs_fashion
def test_read_fashion_mnist_from_the_debian_package_and_compose_real_scenes():
  data = images.read_fashion_mnist()
  for split, n in (("train", 60000), ("test", 10000)):
    photos, labels = data[split]
    assert photos.dtype == np.uint8 and photos.shape == (n, 28, 28)
    assert labels.dtype == np.int64 and (np.bincount(labels) == n // 10).all()
    assert photos.max() == 255 and (photos[:, 0] == 0).mean() > 0.5  # Black backgrounds.
  photos, labels = data["test"][0][:500], data["test"][1][:500]
  for seed in range(5):
    canvas, captions = images.compose_scene(photos, labels, np.random.default_rng(seed),
                                            num_items=3, height=36, width=96)
    names = [name for _, _, name in placements(canvas, photos, labels)]
    assert len(set(names)) == 3 and captions == images.scene_captions(names)


def write_idx(path, array):
  dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
  with open(path, "wb") as f:
    f.write(bytes([0, 0, 8, array.ndim]) + dims + array.astype(np.uint8).tobytes())


def test_read_fashion_mnist_reads_plain_idx_and_names_a_missing_or_broken_file(tmp_path):
  rng = np.random.default_rng(0)
  for prefix, n in (("train", 20), ("t10k", 10)):
    write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
    write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
  data = images.read_fashion_mnist(str(tmp_path))
  assert data["train"][0].shape == (20, 28, 28) and list(data["test"][1]) == list(range(10))

  with pytest.raises(UserError) as e:
    images.read_fashion_mnist(str(tmp_path / "nowhere"))
  message = str(e.value)
  assert "nowhere" in message and "apt-get install dataset-fashion-mnist" in message
  assert "\n" not in message

  labels = tmp_path / "t10k-labels-idx1-ubyte"
  labels.write_bytes(b"\x00\x00\x0d\x01" + labels.read_bytes()[4:])  # Floats, not bytes.
  with pytest.raises(UserError, match="t10k-labels-idx1-ubyte is not an IDX file"):
    images.read_fashion_mnist(str(tmp_path))
  write_idx(labels, np.arange(10) % 10)
  images_file = tmp_path / "t10k-images-idx3-ubyte"
  images_file.write_bytes(images_file.read_bytes()[:-5])
  with pytest.raises(UserError, match="t10k-images-idx3-ubyte is truncated"):
    images.read_fashion_mnist(str(tmp_path))


# Image files.


def test_read_image_returns_what_write_png_wrote(tmp_path):
  rng = np.random.default_rng(0)
  grey = rng.integers(0, 256, (12, 20), dtype=np.uint8)
  colour = rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)
  images.write_png(str(tmp_path / "grey.png"), grey)
  images.write_png(str(tmp_path / "colour.png"), colour)
  np.testing.assert_array_equal(
      images.read_image(str(tmp_path / "grey.png"), height=12, width=20, channels=1),
      grey[..., None])
  np.testing.assert_array_equal(
      images.read_image(str(tmp_path / "colour.png"), height=12, width=20, channels=3), colour)
  # Greyscale read as RGB repeats it; RGB read as greyscale is its luma.
  np.testing.assert_array_equal(
      images.read_image(str(tmp_path / "grey.png"), height=12, width=20, channels=3),
      np.repeat(grey[..., None], 3, -1))
  red = np.zeros((4, 4, 3), np.uint8)
  red[..., 0] = 255
  images.write_png(str(tmp_path / "red.png"), red)
  assert (images.read_image(str(tmp_path / "red.png"), height=4, width=4, channels=1) == 76).all()


def test_read_image_resizes_without_keeping_the_aspect_ratio(tmp_path):
  half = np.zeros((40, 80), np.uint8)
  half[:, :40] = 200  # Left half grey, right half black.
  images.write_png(str(tmp_path / "half.png"), half)
  small = images.read_image(str(tmp_path / "half.png"), height=10, width=8, channels=1)
  assert small.shape == (10, 8, 1) and small.dtype == np.uint8
  assert (small[:, :3] == 200).all() and (small[:, 5:] == 0).all()


def test_read_image_makes_a_transparent_background_black(tmp_path):
  rgba = np.zeros((6, 6, 4), np.uint8)
  rgba[..., :3] = 255  # White, but only the centre is opaque.
  rgba[2:4, 2:4, 3] = 255
  Image.fromarray(rgba).save(tmp_path / "cut-out.png")
  read = images.read_image(str(tmp_path / "cut-out.png"), height=6, width=6, channels=1)[..., 0]
  assert (read[2:4, 2:4] == 255).all() and read.sum() == 4 * 255


def test_read_image_refuses_in_one_sentence_naming_the_path(tmp_path):
  text = tmp_path / "notes.png"
  text.write_text("not a picture\n")
  truncated = tmp_path / "truncated.png"
  images.write_png(str(truncated), np.full((50, 50), 9, np.uint8))
  truncated.write_bytes(truncated.read_bytes()[:60])
  cases = ((text, f"{text} is not an image Pillow can read"),
           (truncated, f"{truncated} is not an image Pillow can read"),
           (tmp_path / "missing.png", f"{tmp_path / 'missing.png'} does not exist"),
           (tmp_path, f"{tmp_path} is a directory, not an image"))
  for path, message in cases:
    with pytest.raises(UserError) as e:
      images.read_image(str(path), height=8, width=8, channels=1)
    assert str(e.value) == message


def test_write_png_refuses_arrays_that_are_not_images(tmp_path):
  with pytest.raises(ValueError, match="uint8"):
    images.write_png(str(tmp_path / "a.png"), np.zeros((4, 4), np.float32))
  with pytest.raises(ValueError, match="shape"):
    images.write_png(str(tmp_path / "a.png"), np.zeros((4, 4, 2), np.uint8))


def test_to_model_scale_maps_pixels_to_the_unit_interval():
  scaled = images.to_model_scale(np.array([[0, 128, 255]], np.uint8))
  assert scaled.dtype == np.float32
  np.testing.assert_allclose(scaled, [[0, 128 / 255, 1]])
