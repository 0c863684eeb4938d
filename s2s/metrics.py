"""Loss and accuracy as sums over a batch, so devices and batches add up exactly.

Every function takes
  targets: int32 [B, T]  answer ids + EOS, PAD-padded
  weights: float32 [B]   1 for a real example, 0 for an example that only pads a batch
and returns scalar sums; `summarize` turns accumulated sums into the reported means.
"""

import jax.numpy as jnp
import optax

from s2s import vocab as vocab_lib

# What an evaluation reports (translation adds its text metrics); `config.stop_at` names one.
EVAL_METRICS = ("loss", "token_accuracy", "sequence_accuracy", "padded_char_accuracy",
                "bleu", "chrf", "exact_match")


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
