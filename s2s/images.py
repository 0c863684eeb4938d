"""Offline captioning datasets made from real images, and image file helpers.

Nothing here downloads anything: the images are scikit-learn's bundled `load_digits` and the
Debian package `dataset-fashion-mnist`. Every random choice is drawn from a numpy Generator the
caller passes in, so a seed fixes every pixel and every caption.

Handwritten expressions (`digit_pools`, `operator_glyph`, `compose_expression`): an expression
such as "12+345" is drawn left to right on a black canvas, each digit a real handwritten 8x8
digit of that class, each operator a glyph drawn the way those digits were digitised (strokes on
a 32x32 bitmap, on-pixels counted in 4x4 blocks), so operators and digits share one pixel scale.
The caption is the expression's text.

Fashion-MNIST scenes (`read_fashion_mnist`, `compose_scene`): 2 or 3 product photos of distinct
classes side by side. An item is the noun phrase "a <class>" ("an ankle boot"); with the items
p, q, r in any order, the grammar's sentences are

  p and q from left to right              p q and r from left to right
  p and q from right to left              p q and r from right to left
  p to the left of q                      p to the left of q and r
  p to the right of q                     p to the right of q and r
                                          p between q and r

Each sentence names every item; "to the left of q and r" means left of both. A scene's captions
are all the sentences that are true of it (`scene_captions`): 4 for two items, 8 for three
(e.g. "a bag to the left of a coat", "a coat to the right of a bag", "a bag and a coat from left
to right", "a coat and a bag from right to left"), so they can serve as every reference of BLEU
or CIDEr. Captions are lowercase words separated by single spaces, without punctuation.
"""

import gzip
import itertools
import os
import struct
import zlib
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps
from scipy import ndimage

from s2s.errors import UserError

# Handwritten expressions.

GLYPH_SIZE = 8  # load_digits images are 8x8; operator glyphs match them.
MAX_GAP = 2  # Columns between neighbouring glyphs are drawn uniformly from 0..MAX_GAP.
OPERATOR_GLYPHS = "+-*/()="  # "*" is drawn as the handwritten multiplication cross.
_HIRES = 4 * GLYPH_SIZE  # optdigits drew on 32x32 bitmaps, counted in 4x4 blocks (0..16).
# The pixel values 0..16 of both digits and operators, as uint8.
_LEVELS = np.rint(np.arange(17) * (255 / 16)).astype(np.uint8)


def digit_split_indices(seed: int = 0,
                        fractions: Sequence[float] = (0.7, 0.15, 0.15)) -> dict[str, np.ndarray]:
  """Which `load_digits` images go to which pool: {"train", "validation", "test"} -> int64 [n].

  Split per digit class (stratified), so every class is in every pool in about the given
  fractions; the pools are disjoint and together hold all 1,797 images. Each class's count is
  rounded for train and validation, test takes the rest.
  """
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel
  return _split_by_class(load_digits().target, seed, fractions)


def _split_by_class(labels: np.ndarray, seed: int, fractions: Sequence[float]):
  """{"train", "validation", "test"} -> int64 [n]: indices into `labels` (int [N], 0..9)."""
  if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
    raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions!r}")
  rng = np.random.default_rng(seed)
  pools = {"train": [], "validation": [], "test": []}
  for digit in range(10):
    members = rng.permutation(np.flatnonzero(labels == digit))
    n_train = round(fractions[0] * len(members))
    n_val = round(fractions[1] * len(members))
    pools["train"].append(members[:n_train])
    pools["validation"].append(members[n_train:n_train + n_val])
    pools["test"].append(members[n_train + n_val:])
  # Sorted so a pool does not list its images class by class.
  return {name: np.sort(np.concatenate(parts)).astype(np.int64) for name, parts in pools.items()}


def digit_pools(seed: int = 0, fractions: Sequence[float] = (0.7, 0.15, 0.15)
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """scikit-learn's 1,797 handwritten digits split into disjoint pools by image.

  Returns {"train", "validation", "test"} -> (images uint8 [n, 8, 8] in 0..255, labels int64 [n]
  in 0..9), the split of `digit_split_indices(seed, fractions)`. The original values 0..16 (on
  pixels out of 16) are scaled to 0..255 and rounded.
  """
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel
  digits = load_digits()
  images = _LEVELS[digits.images.astype(np.int64)]
  labels = digits.target.astype(np.int64)
  return {name: (images[index], labels[index])
          for name, index in _split_by_class(labels, seed, fractions).items()}


# The (x, y) centres of the 32x32 bitmap's pixels: float [32, 32, 2].
_CENTRES = np.stack(np.meshgrid(np.arange(_HIRES) + 0.5, np.arange(_HIRES) + 0.5), -1)


def _draw_segments(segments, thickness: float) -> np.ndarray:
  """bool [32, 32]: the pixels whose centre lies within thickness/2 of a segment, each segment
  a pair of (x, y) end points."""
  ink = np.zeros((_HIRES, _HIRES), bool)
  for p0, p1 in segments:
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    t = np.clip(((_CENTRES - p0) @ d) / max(d @ d, 1e-9), 0, 1)
    nearest = p0 + t[..., None] * d
    ink |= ((_CENTRES - nearest)**2).sum(-1) <= (thickness / 2)**2
  return ink


def _stroke(rng: np.random.Generator, centre, length: float, degrees: float, tilt: float = 6):
  """A segment of about `length` and angle `degrees` (0: rightwards, 90: downwards; jittered
  by `tilt` degrees, one standard deviation) through about `centre`, its ends jittered
  independently as a hand's are."""
  angle = np.deg2rad(degrees + rng.normal(0, tilt))
  length = length * rng.uniform(0.85, 1.15)
  direction = np.array([np.cos(angle), np.sin(angle)])
  centre = np.asarray(centre, float) + rng.normal(0, 0.8, 2)
  return (centre - direction * length / 2 + rng.normal(0, 0.7, 2),
          centre + direction * length / 2 + rng.normal(0, 0.7, 2))


def operator_glyph(op: str, rng: np.random.Generator) -> np.ndarray:
  """A freshly drawn handwritten-looking operator: uint8 [8, 8] in 0..255.

  `op` is one of OPERATOR_GLYPHS ("+-*/()="; "*" is drawn as a cross like "x"). A few strokes
  of random length, angle, pen thickness and end points are drawn on a 32x32 bitmap and the
  on-pixels counted in 4x4 blocks, which is how `load_digits` made its digits: the glyph has
  their anti-aliasing and their 17 intensity levels. Raises ValueError for any other `op`.
  """
  if op not in OPERATOR_GLYPHS or len(op) != 1:
    raise ValueError(f"no operator glyph for {op!r}; glyphs exist for {OPERATOR_GLYPHS!r}")
  mid = _HIRES / 2
  centre = mid + rng.uniform(-1.5, 1.5, 2)
  thickness = rng.uniform(5.0, 7.0)  # Pen widths like the optdigits strokes': 1.2 to 1.8 cells.
  if op == "-":
    segments = [_stroke(rng, centre, 20, 0)]
  elif op == "+":
    horizontal = _stroke(rng, centre, 20, 0)
    crossing = (horizontal[0] + horizontal[1]) / 2 + rng.uniform(-2, 2, 2)
    segments = [horizontal, _stroke(rng, crossing, 20, 90)]
  elif op == "*":
    segments = [_stroke(rng, centre, 21, 45), _stroke(rng, centre, 21, 135)]
  elif op == "/":
    segments = [_stroke(rng, centre, 26, 115)]
  elif op == "=":
    # Both bars share one slant, and their gap stays wider than a pen, so they never merge.
    half_gap, slant = rng.uniform(5.5, 7.5), rng.normal(0, 5)
    segments = [_stroke(rng, centre - (0, half_gap), 19, slant, tilt=2),
                _stroke(rng, centre + (0, half_gap), 19, slant, tilt=2)]
  else:  # "(" is an arc of a circle whose centre lies to its right; ")" is its mirror image.
    radius = rng.uniform(14, 22)
    half_angle = np.arcsin(min(1.0, rng.uniform(11, 13.5) / radius))
    bulge = radius * (1 - np.cos(half_angle))  # How far the arc reaches left of its ends.
    circle = np.array([centre[0] - bulge / 2 + radius, centre[1]])
    angles = np.pi + np.linspace(-half_angle, half_angle, 7) + rng.normal(0, 0.04)
    points = circle + radius * np.stack([np.cos(angles), np.sin(angles)], -1)
    points += rng.normal(0, 0.6, points.shape)
    segments = list(zip(points[:-1], points[1:]))
  ink = _draw_segments(segments, thickness)
  if op == ")":
    ink = ink[:, ::-1]
  counts = ink.reshape(GLYPH_SIZE, 4, GLYPH_SIZE, 4).sum((1, 3))
  return _LEVELS[counts]


def distort_digit(image: np.ndarray, rng: np.random.Generator, *, degrees: float = 7.0,
                  shear: float = 0.1, scale: float = 0.1, shift: float = 0.5,
                  threshold: tuple[float, float] = (0.25, 0.5)) -> np.ndarray:
  """The same handwritten digit as if written again slightly differently: uint8 [8, 8] in
  0..255, with the 17 levels of `load_digits`.

  The 8x8 `image` (uint8 in 0..255) is read as a smooth ink density (bilinear), moved by a random
  affine map about its centre (rotation of N(0, degrees) degrees, shear N(0, shear), each axis
  scaled by U(1 - scale, 1 + scale), shifted by U(-shift, shift) pixels; normals clipped at two
  standard deviations), drawn as a 32x32 bitmap inked wherever the density exceeds a random
  threshold in `threshold` (a thinner or thicker pen), and counted in 4x4 blocks as optdigits
  digitised its forms. With every parameter 0 and threshold (0.45, 0.45) it redraws about the
  original (within about one level per pixel).
  """
  def clipped_normal(sd):
    return float(np.clip(rng.normal(0, sd), -2 * sd, 2 * sd)) if sd else 0.0

  angle = np.deg2rad(clipped_normal(degrees))
  forward = (np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
             @ np.array([[1.0, clipped_normal(shear)], [0.0, 1.0]])
             @ np.diag(rng.uniform(1 - scale, 1 + scale, 2)))
  # Each bitmap pixel's centre in the 8x8 image's coordinates (pixel i's centre at i), mapped
  # back through the inverse transform to where its ink comes from.
  centre = (GLYPH_SIZE - 1) / 2
  offsets = (_CENTRES / 4 - 0.5) - centre - rng.uniform(-shift, shift, 2)
  source = offsets @ np.linalg.inv(forward).T + centre
  density = ndimage.map_coordinates(image.astype(np.float64) / 255,
                                    [source[..., 1], source[..., 0]], order=1, mode="constant")
  ink = density > rng.uniform(*threshold)
  return _LEVELS[ink.reshape(GLYPH_SIZE, 4, GLYPH_SIZE, 4).sum((1, 3))]


def expression_width(num_chars: int) -> int:
  """The narrowest canvas `compose_expression` accepts for a text of `num_chars` characters:
  room for every glyph and the widest gaps between them."""
  return GLYPH_SIZE * num_chars + MAX_GAP * max(num_chars - 1, 0)


def compose_expression(text: str, pool: tuple[np.ndarray, np.ndarray], rng: np.random.Generator,
                       *, height: int = 12, width: int, distort: float = 0.0) -> np.ndarray:
  """`text` written by hand on a black canvas: uint8 [height, width] in 0..255.

  Each digit is an image of that class drawn at random from `pool` (images uint8 [n, 8, 8],
  labels int [n], one of `digit_pools`'s values), pasted unchanged or, with probability
  `distort`, redrawn by `distort_digit`; each operator a fresh `operator_glyph`. Glyphs go
  left to right with 0..MAX_GAP blank columns between neighbours, each at a random row in
  0..height-8; the whole line starts at a random column, so that it ends anywhere up to the
  right edge. Never crops a glyph: raises ValueError when `width` is
  below `expression_width(len(text))`, when `height` is below 8, or when `text` holds a
  character without a glyph or a digit the pool has no image of.
  """
  pool_images, labels = pool
  if height < GLYPH_SIZE:
    raise ValueError(f"height must be at least {GLYPH_SIZE}, got {height}")
  if width < expression_width(len(text)):
    raise ValueError(f"{text!r} needs a canvas at least {expression_width(len(text))} wide "
                     f"(expression_width({len(text)})), got width {width}")
  glyphs = []
  for c in text:
    if c in "0123456789":
      members = np.flatnonzero(labels == int(c))
      if not len(members):
        raise ValueError(f"the pool has no image of the digit {c}")
      glyph = pool_images[rng.choice(members)]
      glyphs.append(distort_digit(glyph, rng) if distort and rng.random() < distort else glyph)
    else:
      glyphs.append(operator_glyph(c, rng))  # ValueError for a character without a glyph.
  gaps = rng.integers(0, MAX_GAP + 1, size=max(len(text) - 1, 0))
  used = GLYPH_SIZE * len(text) + int(gaps.sum())
  x = int(rng.integers(0, width - used + 1))
  canvas = np.zeros((height, width), np.uint8)
  for i, glyph in enumerate(glyphs):
    y = int(rng.integers(0, height - GLYPH_SIZE + 1))
    canvas[y:y + GLYPH_SIZE, x:x + GLYPH_SIZE] = glyph
    x += GLYPH_SIZE + (int(gaps[i]) if i < len(gaps) else 0)
  return canvas


# Fashion-MNIST scenes.

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"  # Where dataset-fashion-mnist installs it.
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle boot")
FASHION_SIZE = 28


def _read_idx(path: str) -> np.ndarray:
  """The array of an IDX file of unsigned bytes (gzipped when `path` ends in .gz): uint8."""
  try:
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
      data = f.read()
  except (OSError, EOFError, zlib.error) as e:
    raise UserError(f"{path} could not be read: {getattr(e, 'strerror', None) or e}") from None
  if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
    raise UserError(f"{path} is not an IDX file of unsigned bytes (it starts with "
                    f"{data[:4].hex() or 'nothing'})")
  header = 4 + 4 * data[3]
  shape = struct.unpack(f">{data[3]}I", data[4:header]) if len(data) >= header else None
  if shape is None or len(data) != header + int(np.prod(shape)):
    raise UserError(f"{path} is truncated or padded: its size does not match its IDX header")
  return np.frombuffer(data, np.uint8, offset=header).reshape(shape).copy()


def read_fashion_mnist(directory: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """Fashion-MNIST from its IDX files: {"train": (images uint8 [60000, 28, 28], labels int64
  [60000]), "test": (images uint8 [10000, 28, 28], labels int64 [10000])}.

  `directory` defaults to FASHION_MNIST_DIR, where the Debian package dataset-fashion-mnist puts
  the four files; each may be gzipped (name ending .gz) or not. Labels index FASHION_CLASSES.
  """
  directory = directory or FASHION_MNIST_DIR
  arrays = {}
  for split, prefix in (("train", "train"), ("test", "t10k")):
    for kind, dims in (("images", "idx3"), ("labels", "idx1")):
      base = os.path.join(directory, f"{prefix}-{kind}-{dims}-ubyte")
      path = next((p for p in (base + ".gz", base) if os.path.exists(p)), None)
      if path is None:
        raise UserError(f"Fashion-MNIST is not in {directory} ({base}.gz is missing): install "
                        f"it with `apt-get install dataset-fashion-mnist` or pass its directory")
      arrays[split, kind] = _read_idx(path), path
  splits = {}
  for split in ("train", "test"):
    (images, images_path), (labels, labels_path) = arrays[split, "images"], arrays[split, "labels"]
    if images.ndim != 3 or images.shape[1:] != (FASHION_SIZE, FASHION_SIZE):
      raise UserError(f"{images_path} holds images of shape {images.shape[1:]}, not 28x28")
    if labels.shape != images.shape[:1] or labels.max(initial=0) >= len(FASHION_CLASSES):
      raise UserError(f"{labels_path} does not hold one label in 0..9 per image of {images_path}")
    splits[split] = (images, labels.astype(np.int64))
  return splits


def _item(name: str) -> str:
  return ("an " if name[0] in "aeiou" else "a ") + name


# The scene grammar: (number of items, template, whether it is true of items at these left-to-
# right ranks). Listed in the order captions come out; the first is the left-to-right listing.
_SCENE_TEMPLATES = (
    (2, "{0} and {1} from left to right", lambda r: r[0] < r[1]),
    (2, "{0} and {1} from right to left", lambda r: r[0] > r[1]),
    (2, "{0} to the left of {1}", lambda r: r[0] < r[1]),
    (2, "{0} to the right of {1}", lambda r: r[0] > r[1]),
    (3, "{0} {1} and {2} from left to right", lambda r: r[0] < r[1] < r[2]),
    (3, "{0} {1} and {2} from right to left", lambda r: r[0] > r[1] > r[2]),
    (3, "{0} to the left of {1} and {2}", lambda r: r[0] < min(r[1], r[2])),
    (3, "{0} to the right of {1} and {2}", lambda r: r[0] > max(r[1], r[2])),
    (3, "{0} between {1} and {2}", lambda r: min(r[1], r[2]) < r[0] < max(r[1], r[2])),
)


def scene_captions(names: Sequence[str]) -> list[str]:
  """Every sentence of the scene grammar (module docstring) true of items named `names`, listed
  left to right; the first is always the left-to-right listing. 4 for 2 items, 8 for 3."""
  if len(names) not in (2, 3):
    raise ValueError(f"a scene has 2 or 3 items, got {len(names)}")
  captions = []
  for n, template, true in _SCENE_TEMPLATES:
    if n == len(names):
      for ranks in itertools.permutations(range(n)):
        if true(ranks):
          captions.append(template.format(*(_item(names[r]) for r in ranks)))
  return captions


def scene_words() -> list[str]:
  """Every word a scene caption can contain, sorted (class names split at spaces)."""
  words = {"a", "an"} | {w for name in FASHION_CLASSES for w in name.split()}
  for _, template, _ in _SCENE_TEMPLATES:
    words |= {w for w in template.split() if not w.startswith("{")}
  return sorted(words)


def compose_scene(images: np.ndarray, labels: np.ndarray, rng: np.random.Generator, *,
                  num_items: int, height: int, width: int) -> tuple[np.ndarray, list[str]]:
  """`num_items` (2 or 3) photos of distinct classes side by side on a black canvas.

  `images` uint8 [n, 28, 28] and `labels` int [n] indexing FASHION_CLASSES (a split of
  `read_fashion_mnist`). Returns (canvas uint8 [height, width], captions): the photos are
  pasted unchanged, without overlap, left to right at random columns (the width left over is
  split at random between the margins and the gaps) and each at a random row; the captions are
  `scene_captions` of their classes, left to right. An image is drawn uniformly and redrawn
  while its class is already in the scene, so classes come in proportion to their counts.
  Raises ValueError when the canvas is smaller than 28 x 28*num_items or the labels hold fewer
  than num_items classes.
  """
  if num_items not in (2, 3):
    raise ValueError(f"a scene has 2 or 3 items, got num_items={num_items}")
  if height < FASHION_SIZE or width < FASHION_SIZE * num_items:
    raise ValueError(f"a scene of {num_items} items needs a canvas at least {FASHION_SIZE} high "
                     f"and {FASHION_SIZE * num_items} wide, got {height}x{width}")
  chosen, classes, draws = [], set(), 0
  while len(chosen) < num_items:
    index = int(rng.integers(len(labels)))
    if int(labels[index]) not in classes:
      chosen.append(index)
      classes.add(int(labels[index]))
    draws += 1
    # Checked only after many draws, so the common case never scans the whole label array.
    if draws == 1000 and len(np.unique(labels)) < num_items:
      raise ValueError(f"the labels hold fewer than {num_items} classes")
  slack = width - FASHION_SIZE * num_items
  cuts = np.sort(rng.integers(0, slack + 1, size=num_items))  # Width left of each item.
  canvas = np.zeros((height, width), np.uint8)
  for i, index in enumerate(chosen):
    x = int(cuts[i]) + FASHION_SIZE * i
    y = int(rng.integers(0, height - FASHION_SIZE + 1))
    canvas[y:y + FASHION_SIZE, x:x + FASHION_SIZE] = images[index]
  return canvas, scene_captions([FASHION_CLASSES[int(labels[i])] for i in chosen])


# Image files.


def read_image(path: str, *, height: int, width: int, channels: int) -> np.ndarray:
  """The image file at `path` as uint8 [height, width, channels] in 0..255.

  Any format Pillow reads. The EXIF orientation is applied (a phone photo comes out upright),
  a transparent background becomes black (the composed datasets are drawn on black), then the
  image is converted to greyscale ("L", luma) for channels=1 or "RGB" for channels=3 and
  resized to width x height without keeping its aspect ratio, by Pillow's bilinear filter
  (which widens when shrinking, so it averages rather than aliases). A missing or unreadable
  file, or one that is not an image, raises a UserError naming the path.
  """
  if channels not in (1, 3):
    raise ValueError(f"channels must be 1 or 3, got {channels}")
  if height <= 0 or width <= 0:
    raise ValueError(f"height and width must be positive, got {height}x{width}")
  try:
    with Image.open(path) as opened:
      image = ImageOps.exif_transpose(opened)
      if "A" in image.getbands() or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
      image = image.convert("L" if channels == 1 else "RGB")
  except FileNotFoundError:
    raise UserError(f"{path} does not exist") from None
  except IsADirectoryError:
    raise UserError(f"{path} is a directory, not an image") from None
  except Image.DecompressionBombError:
    raise UserError(f"{path} has too many pixels for Pillow to open safely") from None
  except (OSError, SyntaxError, ValueError) as e:  # Pillow's decoders raise all three.
    if isinstance(e, OSError) and e.errno is not None:  # Permission denied, I/O error.
      raise UserError(f"{path} could not be read: {e.strerror}") from None
    raise UserError(f"{path} is not an image Pillow can read") from None
  if image.size != (width, height):
    image = image.resize((width, height), Image.Resampling.BILINEAR)
  array = np.asarray(image, np.uint8)
  return array[..., None] if channels == 1 else array


def write_png(path: str, image: np.ndarray) -> None:
  """Writes uint8 [H, W] (greyscale), [H, W, 1] (greyscale) or [H, W, 3] (RGB) to `path` as PNG."""
  image = np.asarray(image)
  if image.dtype != np.uint8:
    raise ValueError(f"write_png takes uint8 pixels, got {image.dtype}")
  if image.ndim == 3 and image.shape[-1] == 1:
    image = image[..., 0]
  if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] != 3):
    raise ValueError(f"write_png takes [H, W], [H, W, 1] or [H, W, 3], got shape {image.shape}")
  Image.fromarray(image).save(path, format="PNG")


def to_model_scale(image: np.ndarray) -> np.ndarray:
  """uint8 pixels in 0..255 (any shape) as float32 in [0, 1], the scale models take."""
  return np.asarray(image, np.float32) / 255.0
