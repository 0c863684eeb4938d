"""What s2s reports: one table of metrics, and the sums behind them.

`TABLE` names every metric an evaluation may report: how it is computed, its scale, and whether
lower is better. Everything that reads a metric by name -- `config.stop_at`, s2s.results,
scripts/aggregate.py, the launcher's status -- looks it up here (`lookup`, `lower_is_better`),
so an unknown name fails where it is read and an error rate is never ranked as an accuracy.
Beam-search evaluations report the same metrics suffixed `_beam{K}` (`bleu_beam5`); the suffix
keeps the direction of the metric it decorates. A task declares which of these its
validation reports (config.TASK_RULES[...].metrics).

The functions that compute them take
  targets: int32 [B, T]  answer ids + EOS, PAD-padded
  weights: float32 [B]   1 for a real example, 0 for an example that only pads a batch
and return scalar sums; `summarize` turns accumulated sums into the reported means.
"""

import dataclasses
import operator
import re

import jax.numpy as jnp
import optax

from s2s import vocab as vocab_lib
from s2s.errors import UserError


@dataclasses.dataclass(frozen=True)
class Metric:
  """What one reported number means."""
  lower_is_better: bool
  scale: str  # "0-1", "0-100", or the unit of an unbounded value.
  # The function that reports it (here, or module.function in s2s); "" = declared for a task
  # to come.
  computed_by: str
  description: str


TABLE = {
    "loss": Metric(True, "nats per token", "summarize",
                   "Cross-entropy of the teacher-forced decoder, averaged over real target "
                   "tokens (answer characters + EOS; padding never counts)."),
    "ctc_loss": Metric(True, "nats per label", "summarize",
                       "Training only, with config.model.ctc_weight > 0: the CTC loss of the "
                       "encoder's own output layer (joint CTC-attention), averaged over the "
                       "target's labels (EOS and padding excluded)."),
    "token_accuracy": Metric(False, "0-1", "summarize",
                             "Fraction of real target positions (answer + EOS) predicted right."),
    "sequence_accuracy": Metric(False, "0-1", "summarize",
                                "Fraction of examples whose every real target position is "
                                "right: the decoded answer is exactly the target."),
    "padded_char_accuracy": Metric(False, "0-1", "summarize",
                                   "Fraction of all target positions right, padding included "
                                   "(the Keras addition_rnn metric; inflated by padding)."),
    "bleu": Metric(False, "0-100", "text_metrics",
                   "Corpus BLEU of detokenized hypotheses against one reference each "
                   "(sacrebleu defaults, 13a tokenization)."),
    "chrf": Metric(False, "0-100", "text_metrics",
                   "Corpus chrF of detokenized hypotheses against one reference each "
                   "(sacrebleu defaults)."),
    "exact_match": Metric(False, "0-1", "text_metrics",
                          "Fraction of detokenized hypotheses equal to their reference."),
    "cer": Metric(True, "0-1", "caption_metrics.cer",
                  "Character error rate: character edit distance (substitutions + insertions + "
                  "deletions) over reference characters, summed over the corpus; can exceed 1."),
    "wer": Metric(True, "0-1", "tasks.speech.wer",
                  "Word error rate: word edit distance over reference words, summed over the "
                  "corpus; can exceed 1 (spoken arithmetic: a word is a number or an "
                  "operator)."),
    # Captioning: the COCO caption scorer (pycocoevalcap) on captions PTB-tokenized as it does
    # (lowercased, punctuation dropped), one hypothesis per image against all its references.
    **{f"bleu_{n}": Metric(False, "0-1", "caption_metrics.score",
                           f"COCO caption scorer's corpus BLEU-{n} of PTB-tokenized captions "
                           "against all references of an image (brevity penalty from the "
                           "closest reference length).") for n in range(1, 5)},
    "meteor": Metric(False, "0-1", "caption_metrics.score",
                     "COCO caption scorer's METEOR 1.5 (English, normalized) of PTB-tokenized "
                     "captions against all references of an image; needs Java, absent without."),
    "rouge_l": Metric(False, "0-1", "caption_metrics.score",
                      "COCO caption scorer's ROUGE-L (LCS F-measure, beta 1.2, best precision and "
                      "recall over all references of an image) of PTB-tokenized captions, "
                      "averaged over images."),
    "cider": Metric(False, "unbounded (about 0-10)", "caption_metrics.score",
                    "COCO caption scorer's CIDEr-D of PTB-tokenized captions against all "
                    "references of an image, averaged over images; its idf comes from the "
                    "references of the images scored together, so it depends on the set."),
    "distinct_captions": Metric(False, "0-1", "caption_metrics.distinct",
                                "Distinct predictions over predictions: near 0 when a model "
                                "writes the same caption for every image."),
}

# What an evaluation can report today.
EVAL_METRICS = tuple(name for name, metric in TABLE.items() if metric.computed_by)

# What a one-line status shows when a run reports it.
HEADLINE = "sequence_accuracy"

_BEAM_SUFFIX = re.compile(r"_beam\d+$")
_OPS = {"<=": operator.le, ">=": operator.ge}


def find(name: str):
  """The Metric of `name` (`bleu`, or the beam-search `bleu_beam5`), or None if unknown."""
  return TABLE.get(_BEAM_SUFFIX.sub("", name))


def lookup(name: str, where: str = "") -> Metric:
  """The Metric of `name`; an unknown name is a UserError that names `where` it came from
  (a flag or config field, e.g. "--metric")."""
  metric = find(name)
  if metric is None:
    raise UserError(f"{where + ' ' if where else ''}{name!r} is not a metric; metrics are "
                    f"{', '.join(TABLE)} (beam-search results add _beam{{K}}, e.g. bleu_beam5)")
  return metric


def lower_is_better(name: str, where: str = "") -> bool:
  """Whether a smaller value of metric `name` is better (loss, error rates)."""
  return lookup(name, where).lower_is_better


def better_op(name: str) -> str:
  """How a value of metric `name` reaches a threshold: "<=" if lower is better, else ">="
  (the comparisons `config.stop_at` accepts)."""
  return "<=" if lower_is_better(name) else ">="


def reaches(value: float, op: str, threshold: float) -> bool:
  """`value op threshold`, op being "<=" or ">="."""
  return _OPS[op](value, threshold)


def best(name: str, values):
  """The best of `values` of metric `name`: the least if lower is better, else the greatest."""
  return (min if lower_is_better(name) else max)(values)


def headline(event: dict):
  """The metric a one-line status shows for an evaluation `event`: HEADLINE if reported, else
  the first metric the event holds; None if it holds none."""
  if HEADLINE in event:
    return HEADLINE
  return next((k for k in event if find(k) is not None), None)


def loss_sums(logits, targets, weights):
  """Cross-entropy summed over real (non-PAD) target tokens, and their count."""
  mask = (targets != vocab_lib.PAD) * weights[:, None]
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
  return {"loss_sum": jnp.sum(losses * mask), "tokens": jnp.sum(mask)}


def finalize_predictions(predictions):
  """Ids after the first predicted EOS become PAD: decoding has stopped there."""
  after_eos = jnp.cumsum(predictions == vocab_lib.EOS, axis=1) - (predictions == vocab_lib.EOS)
  return jnp.where(after_eos > 0, vocab_lib.PAD, predictions)


def accuracy_sums(predictions, targets, weights):
  """Counts behind token, sequence and padded-character accuracy.

  token_correct: right predictions at real target positions (answer chars + EOS).
  sequence_correct: examples whose every real target position is right, so the
    decoded answer is exactly the target.
  padded_correct/padded_total: every position, padding included (the Keras metric).
  """
  real = targets != vocab_lib.PAD
  right = predictions == targets
  w = weights[:, None]
  return {
      "token_correct": jnp.sum(right * real * w),
      "sequence_correct": jnp.sum(jnp.all(right | ~real, axis=1) * weights),
      "sequences": jnp.sum(weights),
      "padded_correct": jnp.sum(right * w),
      "padded_total": jnp.sum(jnp.ones_like(targets) * w),
  }


def summarize(sums) -> dict:
  """Reported metrics from (host-side) sums; absent sums give absent metrics.

  Divides in float64: the counts are exact, and the ratios should be too.
  """
  sums = {k: float(v) for k, v in sums.items()}
  out = {}
  if "loss_sum" in sums:
    out["loss"] = sums["loss_sum"] / sums["tokens"]
  if "ctc_loss_sum" in sums:
    out["ctc_loss"] = sums["ctc_loss_sum"] / sums["ctc_labels"]
  if "token_correct" in sums:
    out["token_accuracy"] = sums["token_correct"] / sums["tokens"]
    out["sequence_accuracy"] = sums["sequence_correct"] / sums["sequences"]
  if "padded_correct" in sums:
    out["padded_char_accuracy"] = sums["padded_correct"] / sums["padded_total"]
  return out


def text_metrics(hypotheses: list[str], references: list[str]) -> dict:
  """Corpus BLEU and chrF (sacrebleu's defaults: 13a tokenization, 0-100) and exact match (0-1)
  of detokenized hypotheses against one reference each."""
  import sacrebleu  # Only translation needs it.
  return {"bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
          "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
          "exact_match": sum(h == r for h, r in zip(hypotheses, references)) / len(references)}
