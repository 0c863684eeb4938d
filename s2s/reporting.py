"""Where metrics go: metrics.jsonl, TensorBoard, Weights & Biases, the terminal.

Every event is one JSON object per line in `metrics.jsonl`:
  {"step": 1407, "epoch": 1.0, "split": "validation", "loss": ..., "token_accuracy": ...,
   "sequence_accuracy": ..., "padded_char_accuracy": ..., "elapsed_s": ...}
`elapsed_s` is the run's wall time since it first started, summed over resumed attempts.
"""

import json
import os
import random
import secrets
import sys
import time
from typing import NamedTuple

import jax
import numpy as np
import tqdm

from s2s.errors import UserError

METRICS_FILE = "metrics.jsonl"
# Splits evaluated during training; every other split (test, length_generalization, a task's
# final checks) is evaluated once, at the end.
TRAINING_SPLITS = ("train", "validation")
# Families with more labels than this show only their worst labels in the end-of-run table.
_SLICE_ROWS = 8


def is_final(split: str) -> bool:
  return split not in TRAINING_SPLITS


def final_splits(events: list[dict]) -> list[str]:
  """The final splits a run's events report, test first."""
  names = dict.fromkeys(e["split"] for e in events if is_final(e["split"]))
  return sorted(names, key=lambda n: n != "test")


def read_metrics(workdir: str) -> list[dict]:
  """Every event of a run. A last line cut short by a kill is left out (the resumed run
  rewrites the file without it); a damaged line elsewhere is a UserError naming it."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    lines = f.read().split("\n")
  events = []
  for number, line in enumerate(lines, 1):
    if not line.strip():
      continue
    try:
      events.append(json.loads(line))
    except ValueError:
      if number == len(lines):  # No newline after it: the write was cut.
        break
      raise UserError(f"{path} line {number} is not a JSON event") from None
  return events


def _truncate_after(workdir: str, step: int):
  """Drops events a killed run wrote after its last checkpoint (the resumed run redoes them)
  and a last line the kill cut short."""
  kept = [e for e in read_metrics(workdir)
          if e["step"] < step or (e["step"] == step and not is_final(e["split"]))]
  path = os.path.join(workdir, METRICS_FILE)
  tmp = path + ".tmp"
  try:
    with open(tmp, "w") as f:
      f.writelines(json.dumps(e) + "\n" for e in kept)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  return kept


def _duration(seconds: float) -> str:
  seconds = int(seconds)
  return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else (
      f"{seconds // 60}m{seconds % 60:02d}s")


class Reporter:
  """Writes metrics and samples to every sink; the only place training talks to the outside.

  In a multi-process run only process 0 reports; the others' reporters do nothing.
  """

  def __init__(self, workdir, config, *, start_step, total_steps, steps_per_epoch):
    self.enabled = jax.process_index() == 0
    if not self.enabled:
      return
    self.workdir = workdir
    self.total_steps = total_steps
    self.steps_per_epoch = steps_per_epoch
    self.examples_per_step = config.batch_size
    self.start_time = time.time()
    self.last_time, self.last_step = self.start_time, start_step
    kept = _truncate_after(workdir, start_step)
    # A resumed run's clock continues from its last event (the time lost to the kill is not).
    self.elapsed_before = kept[-1]["elapsed_s"] if kept else 0.0
    self.jsonl = open(os.path.join(workdir, METRICS_FILE), "a")

    import tensorboardX  # Pure-Python event files: no TensorFlow needed.
    self.tensorboard = tensorboardX.SummaryWriter(
        os.path.join(workdir, "tensorboard"), purge_step=start_step + 1 if start_step else None)

    self.wandb = None
    if config.wandb.project:
      self.wandb = _init_wandb(workdir, config)

    self.bar = None
    if sys.stdout.isatty():
      self.bar = tqdm.tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True,
                           file=sys.stdout)

  def print(self, text: str):
    if not self.enabled:
      return
    if self.bar is not None:
      self.bar.write(text)
    else:
      print(text, flush=True)

  def step(self, step: int):
    """Called after each training step: the progress bar only, no device sync."""
    if not self.enabled:
      return
    if self.bar is not None:
      self.bar.update(step - self.bar.n)

  def write(self, split: str, step: int, metrics: dict, slices: dict | None = None):
    """One event: the split's metrics and, if given, its accuracy by slice
    ({family: {label: {"count": n, "sequence_accuracy": a}}}, evaluation.slices)."""
    if not self.enabled:
      return
    event = {"step": step, "epoch": round(step / self.steps_per_epoch, 4), "split": split,
             **metrics, **({"slices": slices} if slices else {}),
             "elapsed_s": round(self.elapsed_before + time.time() - self.start_time, 2)}
    self.jsonl.write(json.dumps(event) + "\n")
    self.jsonl.flush()
    for name, value in metrics.items():
      self.tensorboard.add_scalar(f"{split}/{name}", value, step)
    for family, labels in (slices or {}).items():
      for label, row in labels.items():
        self.tensorboard.add_scalar(f"{split}_slices/{family}={label}", row["sequence_accuracy"],
                                    step)
    self.tensorboard.flush()
    if self.wandb is not None:
      self.wandb.log({f"{split}/{k}": v for k, v in metrics.items()} | {"epoch": event["epoch"]},
                     step=step)
    self.print(self._line(event, metrics))

  def _line(self, event, metrics) -> str:
    shown = " ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    line = f"step {event['step']}/{self.total_steps} epoch {event['epoch']:.2f} {event['split']}: {shown}"
    if event["split"] == "train":
      now = time.time()
      rate = (event["step"] - self.last_step) / max(now - self.last_time, 1e-9)
      self.last_time, self.last_step = now, event["step"]
      eta = (self.total_steps - event["step"]) / max(rate, 1e-9)
      line += f" | {rate * self.examples_per_step:,.0f} examples/s, ETA {_duration(eta)}"
    return line

  def samples(self, split, step, queries, targets, predictions, count=10, seed=0,
              accepted=None):
    """Prints `count` random (query, target, prediction) rows, as the Keras tutorial does. A
    prediction is right when it equals its target, or any of its `accepted` texts when given
    (every reference of a caption: a correct other phrasing is right too)."""
    if not self.enabled:
      return
    rows = random.Random(seed * 1_000_003 + step).sample(
        range(len(queries)), min(count, len(queries)))
    table = [(queries[i], targets[i], predictions[i],
              predictions[i] in accepted[i] if accepted else predictions[i] == targets[i])
             for i in rows]
    width = max(len("query"), *(len(q) for q, _, _, _ in table))
    twidth = max(len("target"), *(len(t) for _, t, _, _ in table))
    lines = [f"  {'query':<{width}}  {'target':<{twidth}}  prediction"]
    for q, t, p, right in table:
      lines.append(f"  {q:<{width}}  {t:<{twidth}}  {p:<{twidth}}  {'right' if right else 'WRONG'}")
    self.print("\n".join(lines))
    if self.wandb is not None:
      import wandb
      self.wandb.log({f"{split}/samples": wandb.Table(
          columns=["query", "target", "prediction", "right"],
          data=[list(row) for row in table])}, step=step)

  def attention_plots(self, step, sources, targets, weights):
    """Heatmaps (target pieces x source pieces) as attention/validation_<i>.png."""
    if not self.enabled:
      return
    directory = os.path.join(self.workdir, "attention")
    if all(source is None for source in sources):
      self.print("attention plots: skipped (these inputs have nothing to draw them over)")
      return
    for i, (source, target) in enumerate(zip(sources, targets)):
      if source is not None:
        plot_attention(os.path.join(directory, f"validation_{i}.png"), source, target,
                       weights[i], f"step {step}")
    self.print(f"attention plots: {directory}")

  def close(self):
    if not self.enabled:
      return
    if self.bar is not None:
      self.bar.close()
    self.jsonl.close()
    self.tensorboard.close()
    if self.wandb is not None:
      self.wandb.finish()


def _init_wandb(workdir, config):
  import wandb
  id_file = os.path.join(workdir, "wandb_run_id")
  if os.path.exists(id_file):
    with open(id_file) as f:
      run_id = f.read().strip()
  else:
    run_id = secrets.token_hex(4)
    with open(id_file, "w") as f:
      f.write(run_id)
  return wandb.init(
      project=config.wandb.project, entity=config.wandb.entity or None,
      name=config.wandb.name or os.path.basename(os.path.abspath(workdir)),
      mode=config.wandb.mode or None, dir=workdir, id=run_id, resume="allow",
      config=config.to_dict())


class AttentionImage(NamedTuple):
  """What an image task's attention is over: the image uint8 [H, W, C] and the grid of CNN
  regions (rows, columns) whose cells the weights score, listed column by column."""
  image: np.ndarray
  grid: tuple


def plot_attention(path, source, target, weights, title=""):
  """One PNG of the attention behind a prediction: a heatmap (rows the predicted pieces,
  columns the source pieces as fed), or for an AttentionImage a panel per predicted piece
  with its attention over the image (Show, Attend and Tell's figure)."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  if isinstance(source, AttentionImage):
    _plot_image_attention(plt, path, source, target, weights, title)
    return
  w = weights[:len(target), :len(source)]
  fig, ax = plt.subplots(figsize=(1.5 + 0.35 * len(source), 1.2 + 0.3 * len(target)))
  ax.imshow(w, cmap="viridis", vmin=0, vmax=1, aspect="auto")
  ax.set_xticks(range(len(source)), source, rotation=90, fontsize=8)
  ax.set_yticks(range(len(target)), target, fontsize=8)
  ax.set_xlabel("source (as fed)")
  ax.set_ylabel("prediction")
  if title:
    ax.set_title(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def slice_table(split: str, slices: dict, rows: int = _SLICE_ROWS) -> str:
  """sequence_accuracy by slice, a line per family: every label, or its `rows` worst."""
  lines = [f"{split} sequence_accuracy by slice (count):"]
  for family, labels in slices.items():
    if len(labels) < 2:
      continue  # One label: the split's own figure.
    items = list(labels.items())
    note = ""
    if len(items) > rows:
      worst = set(sorted(labels, key=lambda k: labels[k]["sequence_accuracy"])[:rows])
      items = [kv for kv in items if kv[0] in worst]
      note = f" ... {len(labels) - rows} more (the worst {rows} shown)"
    shown = "  ".join(f"{label} {row['sequence_accuracy']:.4f} ({row['count']})"
                      for label, row in items)
    lines.append(f"  {family:<16} {shown}{note}")
  return "\n".join(lines)


def attention_overlay(weights, grid: tuple, height: int, width: int) -> np.ndarray:
  """One step's weights over the regions [rows * columns] (column by column) as a float map
  [height, width]: each region's weight spread over the pixels it pools, edges that no region
  covers at 0."""
  rows, columns = grid
  cells = np.asarray(weights[:rows * columns], np.float64).reshape(columns, rows).T
  pooled_h, pooled_w = height // rows, width // columns  # The pixels a region pools.
  out = np.zeros((height, width))
  out[:rows * pooled_h, :columns * pooled_w] = np.kron(cells, np.ones((pooled_h, pooled_w)))
  return out


def _plot_image_attention(plt, path, source, target, weights, title):
  image = np.asarray(source.image)
  height, width = image.shape[:2]
  shown = image[..., 0] if image.shape[-1] == 1 else image
  panels = len(target) + 1
  columns = min(panels, 6)
  rows = -(-panels // columns)
  scale = 2.2 / max(height, width) * max(1.0, 64 / max(height, width))
  fig, axes = plt.subplots(rows, columns, squeeze=False,
                           figsize=(columns * max(1.2, width * scale), rows * (0.5 + height * scale)))
  for ax in axes.flat:
    ax.axis("off")
  axes.flat[0].imshow(shown, cmap="gray", interpolation="nearest")
  axes.flat[0].set_title(title or "input", fontsize=8)
  for t, piece in enumerate(target):
    ax = axes.flat[t + 1]
    ax.imshow(shown, cmap="gray", interpolation="nearest")
    heat = attention_overlay(weights[t], source.grid, height, width)
    ax.imshow(heat, cmap="jet", alpha=0.5, vmin=0, vmax=max(heat.max(), 1e-9),
              interpolation="bilinear")
    ax.set_title(piece, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
