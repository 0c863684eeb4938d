"""Evaluation of a model on a split, as module-level functions with their inputs passed in
(as flax/examples/wmt's `evaluate`): the train loop only calls them, and a trained workdir
can be evaluated without it.

`evaluate` gives a split's metrics (teacher-forced loss, greedy accuracies) and predicted
ids; `beam_metrics` the same split decoded by beam search; `text_results` the task's text
metrics of decoded predictions; `attention` the weights behind a few greedy predictions.
"""

import jax
from jax.experimental import multihost_utils
import numpy as np

from s2s import inference
from s2s import input_pipeline
from s2s import metrics as metrics_lib
from s2s import reporting
from s2s import vocab as vocab_lib


def evaluate(*, p_eval_step, params, split: input_pipeline.Split, eval_batch_size: int):
  """(metrics, predicted ids [N, T] of the whole split, in order, in every process).

  `p_eval_step(params, sharded batch) -> (metric sums, predictions)` is pmap'd; `params`
  replicated; `eval_batch_size` is global (each process runs its share in batches of
  eval_batch_size / processes rows)."""
  sums, predictions = [], []
  for batch in split.batches(eval_batch_size // jax.process_count()):
    s, p = p_eval_step(params, input_pipeline.shard(batch))
    sums.append(s)
    predictions.append(p)
  sums, predictions = jax.device_get((sums, predictions))
  total = {k: sum(s[k][0] for s in sums) for k in sums[0]}
  predictions = np.concatenate([p.reshape((-1, p.shape[-1])) for p in predictions])[:split.size]
  return metrics_lib.summarize(total), whole_split(predictions, split.weights)


def whole_split(rows, weights):
  """This process's rows of a split -> the whole split's rows, in order, in every process."""
  if jax.process_count() > 1:
    rows = multihost_utils.process_allgather(rows, tiled=True)
    weights = multihost_utils.process_allgather(weights, tiled=True)
  return rows[weights > 0]


def reported(results: dict, metrics: tuple) -> dict:
  """The results the task reports (its METRICS), in the order computed."""
  return {k: v for k, v in results.items() if k in metrics}


def text_results(task, ids, split: input_pipeline.Split, final: bool = False):
  """(the task's text metrics of predicted ids against the split's references, the texts);
  `final`: the run's last evaluation of the split."""
  texts = [task.decode(row) for row in ids]
  return task.text_metrics(texts, split.all_references, final=final), texts


def slice_index(labels: list[dict]) -> dict:
  """Each example's slice labels (task.slices: [{family: label}]) as {family: (the family's
  labels in order, numbers as numbers; int [N] each example's position among them)}:
  computed once per split, then `slices` is a count per evaluation."""
  index = {}
  for family in dict.fromkeys(f for row in labels for f in row):
    column = [row[family] for row in labels]
    names = sorted(set(column), key=_label_order)
    position = {name: i for i, name in enumerate(names)}
    index[family] = (names, np.array([position[x] for x in column], np.int64))
  return index


def slices(index: dict, correct) -> dict:
  """sequence_accuracy by slice: {family: {label: {"count": n, "sequence_accuracy": a}}},
  from a split's `slice_index` and whether each prediction is exactly right (bool [N])."""
  correct = np.asarray(correct, np.float64)
  out = {}
  for family, (names, where) in index.items():
    counts = np.bincount(where, minlength=len(names))
    right = np.bincount(where, weights=correct, minlength=len(names))
    out[family] = {name: {"count": int(n), "sequence_accuracy": float(r / n)}
                   for name, n, r in zip(names, counts, right)}
  return out


def _label_order(label: str):
  parts = label.split(",")
  if all(p.lstrip("-").isdigit() for p in parts):
    return (0, [int(p) for p in parts], "")
  return (1, [], label)


def beam_metrics(*, decoder, params, split: input_pipeline.Split, task, metrics: tuple,
                 beam_size: int, batch_size: int) -> dict:
  """The split decoded by `decoder` (inference.make_decoder with beam_size), scored as
  `evaluate` scores greedy predictions: the task's metrics suffixed _beam{K} (no loss)."""
  ids, targets = [], []
  for batch in split.batches(batch_size):
    ids.append(np.asarray(decoder(params, {k: batch[k] for k in task.input_spec})))
    targets.append(batch["targets"])
  ids = whole_split(np.concatenate(ids)[:split.size], split.weights)
  targets = whole_split(np.concatenate(targets)[:split.size], split.weights)
  sums = jax.device_get(metrics_lib.accuracy_sums(ids, targets, np.ones(len(ids), np.float32)))
  sums["tokens"] = np.sum(targets != vocab_lib.PAD)
  out = metrics_lib.summarize(sums) | text_results(task, ids, split, final=True)[0]
  return {f"{k}_beam{beam_size}": v for k, v in reported(out, metrics).items()}


def attention_source(task, example):
  """What an attention plot of one encoded example is drawn over: its image with the region
  grid (task.source_image, a reporting.AttentionImage), or its input pieces as fed
  (task.source_pieces); None if the task has neither for it (precomputed features)."""
  if hasattr(task, "source_image"):
    image = task.source_image(example)
    return None if image is None else reporting.AttentionImage(*image)
  return task.source_pieces(example) if hasattr(task, "source_pieces") else None


def attention(*, model, params, split: input_pipeline.Split, task, count: int):
  """(sources, predicted pieces, weights [n, T, L]) of the split's first `count` examples,
  decoded greedily (for attention plots); a source is `attention_source`'s."""
  rows = split.take(np.arange(min(count, split.size)))
  inputs = {k: rows[k] for k in task.input_spec}
  ids, weights = inference.attention_weights(model, params, inputs, task.target_length)
  sources = [attention_source(task, {k: v[i] for k, v in inputs.items()})
             for i in range(len(ids))]
  return sources, [task.target_pieces(row) for row in ids], weights
