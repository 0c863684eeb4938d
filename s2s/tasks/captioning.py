"""Image captioning: an image in, its caption out, one token at a time (Show and Tell; with
attention over the CNN's regions, Show, Attend and Tell).

Datasets (`config.task.dataset`), each prepared once as a TFDS dataset of records
{'name', 'image' or 'features', 'caption', 'captions'}:

  arithmetic  handwritten expressions ("12+345") composed from scikit-learn's real handwritten
              digits (s2s.images); the caption is the expression (target=expression: reading)
              or its value (target=answer: reading and computing). Validation and test images
              are drawn from digit images disjoint from the training pool, and their
              expressions from questions disjoint from training's.
  fashion     2-3 Fashion-MNIST product photos (Debian's dataset-fashion-mnist) on a canvas,
              captioned by a small grammar ("a sandal to the left of a bag"); every true
              caption is a reference. Train and validation scenes use the package's training
              photos (disjoint pools), test scenes its test photos.
  coco        the user's data in COCO's layout: `captions` a JSON file with `images` (`id`,
              `file_name`) and `annotations` (`image_id`, `caption`), or Karpathy's
              dataset_coco.json (`images` with `filename`, `sentences`, `split`); with
              `images` a directory of the image files (resized to image_height x
              image_width), or `features` precomputed CNN features per image (see
              `read_features`). COCO-layout files are split by a hash of the file name.

A training record is one (image, caption) pair, so an image with five captions is seen with
each; a validation or test record is one image with all its captions, every one a reference
(`references`). Scored as the COCO caption evaluation scores (s2s.caption_metrics: BLEU-1..4,
METEOR, ROUGE-L, CIDEr-D), plus exact match and CER, and two checks of the classic failure of
writing one caption for every image: `distinct_captions` (the share of distinct predictions)
and the `blank_test` split (the test images blanked out: a model that reads its images scores
far lower there).
"""

import dataclasses
import functools
import hashlib
import json
import os

import jax
import numpy as np
import tensorflow_datasets as tfds
import tqdm

from s2s import arithmetic
from s2s import config as config_lib
from s2s import dataset
from s2s import images
from s2s import models
from s2s import tokenizers
from s2s import vocab as vocab_lib
from s2s import workdir as workdir_lib
from s2s.config import Rule
from s2s.errors import UserError
from s2s.tasks import _text

DATASETS = ("arithmetic", "fashion", "coco")
_FRACTION = dict(above=0, below=1)

RULES = {
    "task.dataset": Rule(str, choices=DATASETS),
    "task.target": Rule(str, choices=("expression", "answer"), why="arithmetic only"),
    "task.digits": Rule(int, min=1, max=9),
    "task.ops": Rule(str),  # Operators out of "+-*": arithmetic.ArithmeticTask.
    "task.distort_digits": Rule(float, min=0, max=1, why="arithmetic: the share of training "
                                "digits redrawn by a random affine map"),
    "task.num_items": Rule(int, min=2, max=3, why="fashion: products per scene"),
    "task.num_examples": Rule(int, min=2, why="train + validation images (arithmetic, fashion)"),
    "task.val_fraction": Rule(float, **_FRACTION),
    "task.test_fraction": Rule(float, **_FRACTION, why="coco: a COCO-layout file's test share"),
    "task.num_test": Rule(int, min=1, why="test images (arithmetic, fashion)"),
    "task.seed": Rule(int, min=0, why="the images and their captions"),
    "task.captions": Rule(str),  # coco: checked by check().
    "task.images": Rule(str),
    "task.features": Rule(str),
    "task.image_height": Rule(int, min=8, max=1024),
    "task.image_width": Rule(int, min=8, max=1024),
    "task.channels": Rule(int, choices=(1, 3)),
    "task.tokenizer": Rule(str, choices=("char", "word")),
    "task.vocab_size": Rule(int, min=5, why="word: 4 ids are pad, bos, eos and unk"),
    "task.min_word_count": Rule(int, min=1),
    "task.max_caption_words": Rule(int, min=0, why="longer training captions are dropped; "
                                   "0 = keep all"),
    "task.cnn_width": Rule(int, min=1, why="channels of the CNN's first block"),
    "task.cnn_blocks": Rule(int, min=1, max=6, why="conv-conv-pool blocks"),
}

METRICS = ("loss", "token_accuracy", "sequence_accuracy", "exact_match", "cer", "bleu_1",
           "bleu_2", "bleu_3", "bleu_4", "meteor", "rouge_l", "cider", "distinct_captions")

TASK_FILE = "task.json"  # In the workdir: the input's shape, the tokenizer, the lengths.
ARITHMETIC_HEIGHT = 12  # An 8x8 digit with up to 4 pixels of vertical jitter.
_SPLIT_SEEDS = {"train": 0, "validation": 1, "test": 2}


def shape(v) -> config_lib.Shape:
  """Rough sizes for the memory check: the image's pixels stand in for source tokens."""
  regions = (v["task.image_height"] * v["task.image_width"]) >> (2 * v["task.cnn_blocks"])
  examples = (v["task.num_examples"] + v["task.num_test"]
              if v["task.dataset"] != "coco" else None)
  train = (v["task.num_examples"] - round(v["task.num_examples"] * v["task.val_fraction"])
           if v["task.dataset"] != "coco" else None)
  if train is not None and v["task.dataset"] == "fashion":
    train *= 4 if v["task.num_items"] == 2 else 8  # One training record per true caption.
  words = v["task.max_caption_words"] or 50
  return config_lib.Shape(examples=examples, train_examples=train,
                          source_length=max(1, regions), target_length=words + 1,
                          source_vocab=v["task.cnn_width"] << (v["task.cnn_blocks"] - 1),
                          target_vocab=v["task.vocab_size"])


def check(c):
  """What RULES cannot say: the arithmetic grammar, the splits, the COCO paths (last)."""
  if c.dataset == "arithmetic":
    arithmetic.two_terms(c)
    if c.tokenizer != "char":
      raise UserError("config.task.tokenizer must be 'char' for dataset='arithmetic' (its "
                      "captions are digits and operators)")
  if c.dataset != "coco":
    config_lib.check_val_fraction(c)
    return
  if not c.val_fraction + c.test_fraction < 1:
    raise UserError(f"config.task.val_fraction + config.task.test_fraction must be below 1, "
                    f"got {c.val_fraction!r} + {c.test_fraction!r}")
  if not c.captions:
    raise UserError("config.task.captions is empty: name the COCO-format captions JSON file")
  if not os.path.exists(os.path.expanduser(c.captions)):
    raise UserError(f"config.task.captions {c.captions!r} does not exist")
  if os.path.isdir(os.path.expanduser(c.captions)):
    raise UserError(f"config.task.captions {c.captions!r} is a directory, not a JSON file")
  if bool(c.images) == bool(c.features):
    raise UserError("set exactly one of config.task.images (a directory of images) and "
                    "config.task.features (precomputed CNN features)")
  for field in ("images", "features"):
    path = c[field] and os.path.expanduser(c[field])
    if path and not os.path.exists(path):
      raise UserError(f"config.task.{field} {c[field]!r} does not exist")
  if c.images and not os.path.isdir(os.path.expanduser(c.images)):
    raise UserError(f"config.task.images {c.images!r} is not a directory")


# ---------------------------------------------------------------------------------------------
# The user's data in COCO's layout.

@dataclasses.dataclass
class Item:
  """One image of a COCO-format file: its file name, every caption, and its split if the
  file says (Karpathy's)."""
  file_name: str
  captions: list
  split: str | None = None
  image_id: str = ""


def read_captions(path: str) -> list[Item]:
  """The images of a COCO-layout captions JSON or of Karpathy's dataset_coco.json, each with
  all its captions; images with no caption are left out (COCO's test sets have none)."""
  try:
    with open(os.path.expanduser(path), encoding="utf-8") as f:
      data = json.load(f)
  except (OSError, UnicodeDecodeError) as e:
    raise UserError(f"cannot read the captions file {path!r}: {e}") from None
  except json.JSONDecodeError as e:
    raise UserError(f"the captions file {path!r} is not JSON (line {e.lineno}: {e.msg})") from None
  if not isinstance(data, dict) or not isinstance(data.get("images"), list):
    raise UserError(f"the captions file {path!r} has no 'images' list (COCO's layout, or "
                    f"Karpathy's dataset_coco.json)")
  if "annotations" in data:
    return _coco_layout(path, data)
  return _karpathy_layout(path, data)


def _field(path, what, record, key, kind):
  value = record.get(key) if isinstance(record, dict) else None
  if not isinstance(value, kind) or isinstance(value, bool):
    raise UserError(f"the captions file {path!r}: {what} has no valid {key!r} "
                    f"(got {str(record)[:80]})")
  return value


def _coco_layout(path, data) -> list[Item]:
  if not isinstance(data["annotations"], list):
    raise UserError(f"the captions file {path!r}: 'annotations' is not a list")
  items = {}
  for i, image in enumerate(data["images"]):
    image_id = _field(path, f"images[{i}]", image, "id", (int, str))
    items[image_id] = Item(_field(path, f"images[{i}]", image, "file_name", str), [],
                           image_id=str(image_id))
  for i, note in enumerate(data["annotations"]):
    image_id = _field(path, f"annotations[{i}]", note, "image_id", (int, str))
    caption = _field(path, f"annotations[{i}]", note, "caption", str)
    if image_id not in items:
      raise UserError(f"the captions file {path!r}: annotations[{i}] names image_id "
                      f"{image_id!r}, which 'images' does not list")
    items[image_id].captions.append(caption)
  return [item for item in items.values() if any(_clean(c) for c in item.captions)]


_KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "validation", "test": "test"}


def _karpathy_layout(path, data) -> list[Item]:
  items = []
  for i, image in enumerate(data["images"]):
    where = f"images[{i}]"
    name = _field(path, where, image, "filename", str)
    if image.get("filepath"):
      name = os.path.join(image["filepath"], name)
    sentences = _field(path, where, image, "sentences", list)
    captions = [s["raw"] if isinstance(s, dict) and isinstance(s.get("raw"), str)
                else " ".join(s.get("tokens", [])) if isinstance(s, dict) else ""
                for s in sentences]
    split = image.get("split")
    if split not in _KARPATHY_SPLITS:
      raise UserError(f"the captions file {path!r}: {where} has split {split!r}, not one of "
                      f"{', '.join(_KARPATHY_SPLITS)}")
    image_id = image.get("cocoid", image.get("imgid", i))
    items.append(Item(name, captions, _KARPATHY_SPLITS[split], str(image_id)))
  return [item for item in items if any(_clean(c) for c in item.captions)]


def _clean(caption: str) -> str:
  return " ".join(caption.split())


def read_features(c, item: Item, cache: dict) -> np.ndarray:
  """The precomputed features of an image as float32 [regions, channels]: a global vector
  [C] is one region, a grid [h, w, C] is h * w regions (row-major, as extracted).

  `config.task.features` is a directory holding `<file name's stem>.npy` or `.npz` (its
  only array, or its `features` array) per image, or one `.npz` file whose keys are the
  images' file-name stems or ids."""
  path = os.path.expanduser(c.features)
  stem = os.path.splitext(os.path.basename(item.file_name))[0]
  if os.path.isdir(path):
    for ext in (".npy", ".npz"):
      file = os.path.join(path, stem + ext)
      if os.path.exists(file):
        array = _load_array(file, None)
        break
    else:
      raise UserError(f"config.task.features {c.features!r} has no {stem}.npy or {stem}.npz "
                      f"for the image {item.file_name!r}")
  else:
    if "npz" not in cache:
      cache["npz"] = _open_npz(path)
    archive = cache["npz"]
    key = stem if stem in archive.files else item.image_id
    if key not in archive.files:
      raise UserError(f"config.task.features {c.features!r} has no array named {stem!r} or "
                      f"{item.image_id!r} for the image {item.file_name!r}")
    array = _load_array(path, archive[key])
  if array.ndim == 1:
    array = array[None]
  elif array.ndim == 3:
    array = array.reshape(-1, array.shape[-1])
  elif array.ndim != 2:
    raise UserError(f"the features of {item.file_name!r} have shape {array.shape}; expected "
                    f"[channels], [regions, channels] or [height, width, channels]")
  if not np.all(np.isfinite(array)):
    raise UserError(f"the features of {item.file_name!r} hold NaN or infinite values")
  return array.astype(np.float32)


def _open_npz(path):
  try:
    return np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise UserError(f"config.task.features {path!r} is not a .npz file numpy can read "
                    f"({e})") from None


def _load_array(path, array):
  if array is not None:
    return np.asarray(array)
  try:
    loaded = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise UserError(f"{path} is not a .npy/.npz file numpy can read ({e})") from None
  if isinstance(loaded, np.ndarray):
    return loaded
  names = loaded.files
  if "features" in names or len(names) == 1:
    return loaded["features" if "features" in names else names[0]]
  raise UserError(f"{path} holds several arrays ({', '.join(names)}) and none named 'features'")


# ---------------------------------------------------------------------------------------------
# The TFDS dataset.

class CaptioningConfig(tfds.core.BuilderConfig):
  """A builder config per dataset: a readable name plus a hash of every field shaping the data
  (for COCO, also the caption file's and the image directory's sizes and times)."""

  def __init__(self, c):
    self.task_config = c
    fields = {k: c[k] for k in _DATA_FIELDS[c.dataset]}
    if c.dataset == "coco":
      for key in ("captions", "images", "features"):
        path = c[key] and os.path.abspath(os.path.expanduser(c[key]))
        fields[key] = path and [path, os.path.getsize(path), os.path.getmtime(path)]
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
    super().__init__(name=f"{c.dataset}_{digest}", description=f"captioning {c.dataset}")


_DATA_FIELDS = {
    "arithmetic": ("dataset", "target", "digits", "ops", "distort_digits", "num_examples",
                   "val_fraction", "num_test", "seed"),
    "fashion": ("dataset", "num_items", "num_examples", "val_fraction", "num_test", "seed"),
    "coco": ("dataset", "val_fraction", "test_fraction", "image_height", "image_width",
             "channels", "seed"),
}


def input_shape(c) -> tuple[str, tuple, type]:
  """(batch key, one example's shape, dtype) of the dataset's model input. For precomputed
  features the shape is read from the first image's file."""
  if c.dataset == "arithmetic":
    width = images.expression_width(arithmetic.two_terms(c).max_query_length())
    return "image", (ARITHMETIC_HEIGHT, -(-width // 8) * 8, 1), np.uint8
  if c.dataset == "fashion":
    height, width = scene_size(c.num_items)
    return "image", (height, width, 1), np.uint8
  if c.images:
    return "image", (c.image_height, c.image_width, c.channels), np.uint8
  first = read_captions(c.captions)[0]
  return "features", read_features(c, first, {}).shape, np.float32


def scene_size(num_items: int) -> tuple[int, int]:
  """(height, width) of a Fashion-MNIST scene's canvas: room for `num_items` 28x28 photos
  side by side with gaps, and some vertical play."""
  return 36, 32 * num_items + 8


class Captioning(tfds.core.GeneratorBasedBuilder):
  """Images with captions: {'name', 'image' | 'features', 'caption', 'captions'}."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    key, shape_, dtype = input_shape(self.builder_config.task_config)
    return tfds.core.DatasetInfo(
        builder=self, description=__doc__,
        features=tfds.features.FeaturesDict({
            "name": tfds.features.Text(), key: tfds.features.Tensor(shape=shape_, dtype=dtype),
            "caption": tfds.features.Text(), "captions": tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    c = self.builder_config.task_config
    make = {"arithmetic": _arithmetic_splits, "fashion": _fashion_splits,
            "coco": _coco_splits}[c.dataset]
    return {name: self._generate_examples(name, count, examples)
            for name, (count, examples) in make(c).items()}

  def _generate_examples(self, split, count, examples):
    key = 0
    bar = tqdm.tqdm(examples, total=count, desc=f"preparing {split} images", unit=" images",
                    mininterval=5, leave=False)
    for name, inputs, captions, training in bar:
      captions = [_clean(x) for x in captions if _clean(x)]
      for caption in (captions if training else captions[:1]):
        yield key, {"name": name, **inputs, "caption": caption, "captions": "\n".join(captions)}
        key += 1


def _arithmetic_splits(c) -> dict:
  """split -> (images, iterator of (name, {'image'}, [caption], training)) of handwritten
  expressions; each split's digits come from its own pool of handwritten digit images."""
  grammar = arithmetic.two_terms(c)
  pairs = arithmetic.make_splits(grammar, num_examples=c.num_examples,
                                 val_fraction=c.val_fraction, num_test=c.num_test, seed=c.seed)
  pools = images.digit_pools(c.seed)
  _, (height, width, _), _ = input_shape(c)

  def examples(split):
    rng = np.random.default_rng([c.seed, _SPLIT_SEEDS[split]])
    for i, (query, answer) in enumerate(pairs[split]):
      # Only training handwriting is redrawn: validation and test digits are as scanned.
      image = images.compose_expression(query, pools[split], rng, height=height, width=width,
                                        distort=c.distort_digits if split == "train" else 0.0)
      yield (f"{split}/{i:06d}", {"image": image[..., None]},
             [query if c.target == "expression" else answer], split == "train")

  return {split: (len(pairs[split]), examples(split)) for split in pairs}


def _fashion_splits(c) -> dict:
  """split -> scenes of Fashion-MNIST photos with every true caption; train and validation
  scenes from disjoint parts of the package's training photos, test scenes from its test
  photos."""
  photos = images.read_fashion_mnist()
  train_images, train_labels = photos["train"]
  order = np.random.default_rng([c.seed, 99]).permutation(len(train_labels))
  held = len(order) // 10
  pools = {"train": (train_images[order[held:]], train_labels[order[held:]]),
           "validation": (train_images[order[:held]], train_labels[order[:held]]),
           "test": photos["test"]}
  num_val = round(c.num_examples * c.val_fraction)
  counts = {"train": c.num_examples - num_val, "validation": num_val, "test": c.num_test}
  height, width = scene_size(c.num_items)

  def examples(split):
    rng = np.random.default_rng([c.seed, _SPLIT_SEEDS[split]])
    for i in range(counts[split]):
      image, captions = images.compose_scene(*pools[split], rng, num_items=c.num_items,
                                             height=height, width=width)
      yield f"{split}/{i:06d}", {"image": image[..., None]}, captions, split == "train"

  return {split: (counts[split], examples(split)) for split in counts}


def _coco_splits(c) -> dict:
  items = read_captions(c.captions)
  if not items:
    raise UserError(f"the captions file {c.captions!r} has no captioned image")
  by_split = {"train": [], "validation": [], "test": []}
  for item in items:
    split = item.split or dataset.hash_split(item.file_name, c.val_fraction, c.test_fraction)
    by_split[split].append(item)
  for name, members in by_split.items():
    if not members:
      raise UserError(f"the {name} split of {c.captions!r} is empty: the file has only "
                      f"{len(items)} captioned images")
  key, shape_, _ = input_shape(c)
  cache = {}

  def load(item):
    if key == "features":
      array = read_features(c, item, cache)
      if array.shape != shape_:
        raise UserError(f"the features of {item.file_name!r} have shape {array.shape}, unlike "
                        f"the first image's {shape_}")
      return {"features": array}
    return {"image": images.read_image(os.path.join(os.path.expanduser(c.images), item.file_name),
                                       height=c.image_height, width=c.image_width,
                                       channels=c.channels)}

  def examples(split):
    for item in by_split[split]:
      yield item.file_name, load(item), item.captions, split == "train"

  return {split: (len(by_split[split]), examples(split)) for split in by_split}


def load(task_config, data_dir: str = "") -> dict:
  """split -> source of records; prepared once."""
  return dataset.prepare(
      lambda: Captioning(config=CaptioningConfig(task_config),
                         data_dir=dataset.data_dir(data_dir), file_format="array_record"),
      data_dir)


# ---------------------------------------------------------------------------------------------
# The run's task.

def build(config, workdir=None, sources=None) -> "Task":
  """The run's task. The first time (`sources` given) it trains the tokenizer on the training
  captions and fixes the caption length (the longest of any split, or max_caption_words),
  saving both in the workdir; later (resuming, predicting) it loads them from there."""
  c = config.task
  path = os.path.join(workdir, TASK_FILE)
  prefix = os.path.join(workdir, "target_tokenizer")
  if os.path.exists(path):
    saved = workdir_lib.read_json(path)
    tokenizer = tokenizers.load(saved["tokenizer"], prefix)
  else:
    if sources is None:
      raise UserError(f"workdir {workdir!r} holds no {TASK_FILE}: its training never started")
    key, shape_, dtype = input_shape(c)
    train = [_text._text(r["caption"])
             for r in dataset.read_records(sources["train"], ("caption",))]
    tokenizer = tokenizers.train(c.tokenizer, train, vocab_size=c.vocab_size,
                                 min_count=c.min_word_count)
    longest = 0
    for src in sources.values():
      for r in dataset.read_records(src, ("captions",)):
        longest = max(longest, *(len(tokenizer.encode(x))
                                 for x in _text._text(r["captions"]).split("\n")))
    if c.max_caption_words:
      longest = min(longest, c.max_caption_words)
    saved = {"tokenizer": c.tokenizer, "input_key": key, "input_shape": list(shape_),
             "input_dtype": np.dtype(dtype).name, "target_length": longest + 1,
             "dataset": c.dataset}
    if jax.process_index() == 0:
      tokenizer.save(prefix)
      workdir_lib.write_json(path, saved)
  return Task(tokenizer=tokenizer, input_key=saved["input_key"],
              input_shape=tuple(saved["input_shape"]), input_dtype=saved["input_dtype"],
              target_length=saved["target_length"], dataset=saved["dataset"],
              cnn_width=c.cnn_width, cnn_blocks=c.cnn_blocks)


@dataclasses.dataclass(frozen=True)
class Task:
  """Images (or their features) in, captions out through one tokenizer."""
  tokenizer: object
  input_key: str  # "image" (uint8 [H, W, C]) or "features" (float32 [R, C]).
  input_shape: tuple
  input_dtype: str
  target_length: int  # Caption tokens + EOS.
  dataset: str
  cnn_width: int
  cnn_blocks: int

  @property
  def input_spec(self) -> dict:
    return {self.input_key: (self.input_shape, np.dtype(self.input_dtype))}

  @property
  def target_vocab_size(self) -> int:
    return self.tokenizer.size

  def input_module(self, model_config):
    if self.input_key == "image":
      return functools.partial(models.ImageInput, self.cnn_width, self.cnn_blocks)
    return functools.partial(models.FeatureInput, model_config.hidden_size)

  @staticmethod
  def texts(record) -> tuple[str, str]:
    """(the image's name, its first caption)."""
    return _text._text(record["name"]), _text._text(record["caption"])

  @staticmethod
  def references(record) -> list[str]:
    return _text._text(record["captions"]).split("\n")

  def encode(self, record) -> dict:
    ids = self.tokenizer.encode(_text._text(record["caption"]))[:self.target_length - 1]
    return {self.input_key: np.asarray(record[self.input_key], self.input_dtype),
            "targets": _text.pad(ids + [vocab_lib.EOS], self.target_length)}

  def decode(self, ids) -> str:
    return self.tokenizer.decode(ids)

  def parse_query(self, text: str) -> dict:
    """An image file (resized as in training) or, for a features model, a .npy/.npz file of
    one image's features."""
    path = os.path.expanduser(text.strip())
    if not os.path.isfile(path):
      raise UserError(f"{text.strip()!r} is not a file (give image files to caption)")
    if self.input_key == "image":
      height, width, channels = self.input_shape
      return {"image": images.read_image(path, height=height, width=width, channels=channels)}
    array = _load_array(path, None).astype(np.float32)
    array = array.reshape(-1, array.shape[-1]) if array.ndim != 1 else array[None]
    if array.shape != self.input_shape:
      raise UserError(f"the features in {path!r} have shape {array.shape}; this model reads "
                      f"{self.input_shape}")
    return {"features": array}

  def text_metrics(self, hypotheses, references, final: bool = False) -> dict:
    """Exact match (equal to any reference), CER (against the first), the share of distinct
    predictions, and for captions the COCO scorer's metrics against every reference; METEOR
    only in a final evaluation (its Java scorer takes ~10 s to start)."""
    from s2s import caption_metrics  # pylint: disable=import-outside-toplevel
    first = [r[0] for r in references]
    out = {"exact_match": float(np.mean([h in r for h, r in zip(hypotheses, references)])),
           "cer": caption_metrics.cer(hypotheses, first),
           "distinct_captions": caption_metrics.distinct(hypotheses)}
    if self.dataset != "arithmetic":
      out |= caption_metrics.score(hypotheses, references, meteor=final)
    return out

  def target_pieces(self, ids) -> list[str]:
    return _text.pieces(self.tokenizer, ids)

  def source_image(self, example):
    """(the image uint8 [H, W, C], the attention grid (rows, columns)) of an encoded example,
    for attention overlays; None for precomputed features (no image to draw on)."""
    if self.input_key != "image":
      return None
    height, width, _ = self.input_shape
    return np.asarray(example["image"]), models.grid_shape(height, width, self.cnn_blocks)

  def final_checks(self, sources) -> dict:
    """The test split with every image blanked (zeros) and the same references: a model that
    reads its images must score far lower on it."""
    test = sources["test"]
    records = test.__getitems__(list(range(len(test))))
    return {"blank_test": [r | {self.input_key: np.zeros_like(np.asarray(r[self.input_key]))}
                           for r in records]}
