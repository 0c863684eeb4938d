"""The metrics table: every reader of a metric name ranks it the way the table says."""

import json

import jiwer
import numpy as np
import pytest

from conftest import load_script
from s2s import caption_metrics
from s2s import config as config_lib
from s2s import metrics
from s2s import results
from s2s import sweeps
from s2s.errors import UserError
from s2s.tasks import speech

ACCURACIES = ("token_accuracy", "sequence_accuracy", "padded_char_accuracy", "exact_match")


# ---------------------------------------------------------------------------------------------
# The table and its look-ups.

def test_directions():
  for name in ("loss", "cer", "wer"):
    assert metrics.lower_is_better(name), name
  for name in ACCURACIES + ("bleu", "chrf"):
    assert not metrics.lower_is_better(name), name
  assert metrics.better_op("wer") == "<=" and metrics.better_op("bleu") == ">="


def test_beam_suffix_keeps_the_direction():
  assert not metrics.lower_is_better("sequence_accuracy_beam5")
  assert not metrics.lower_is_better("bleu_beam12")
  assert metrics.lower_is_better("wer_beam4")
  assert metrics.lookup("chrf_beam5") is metrics.TABLE["chrf"]


@pytest.mark.parametrize("name", ["accuracy", "bleu_beam", "bleu_beam5x", "beam5", "BLEU", ""])
def test_unknown_names_are_one_clear_error(name):
  with pytest.raises(UserError, match=rf"--metric {name!r} is not a metric; metrics are loss,"):
    metrics.lookup(name, "--metric")
  assert metrics.find(name) is None


def test_every_metric_a_task_reports_is_in_the_table():
  for task, rules in config_lib.TASK_RULES.items():
    assert set(rules.metrics) <= set(metrics.TABLE), task
    assert set(rules.metrics) <= set(metrics.EVAL_METRICS), task  # Something computes them.


def test_the_table_says_what_computes_each_metric():
  sums = {"loss_sum": 6.0, "tokens": 4.0, "token_correct": 3.0, "sequence_correct": 1.0,
          "sequences": 2.0, "padded_correct": 5.0, "padded_total": 8.0,
          "ctc_loss_sum": 9.0, "ctc_labels": 3.0}
  hypotheses, references = ["a b c", "d e"], ["a b c", "d f"]
  outputs = {
      "summarize": metrics.summarize(sums),
      "text_metrics": metrics.text_metrics(hypotheses, references),
      "caption_metrics.score": caption_metrics.score(hypotheses, [[r] for r in references]),
      "caption_metrics.cer": {"cer": caption_metrics.cer(hypotheses, references)},
      "caption_metrics.distinct": {"distinct_captions": caption_metrics.distinct(hypotheses)},
      "tasks.speech.wer": {"wer": speech.wer(hypotheses, references, "manifest")},
  }
  for function, out in outputs.items():
    assert {n for n, m in metrics.TABLE.items() if m.computed_by == function} == set(out)
  assert outputs["summarize"]["ctc_loss"] == 3.0  # Nats per label, not per sequence.
  assert set(metrics.EVAL_METRICS) == set(metrics.TABLE)
  assert {m.computed_by for m in metrics.TABLE.values()} == set(outputs)
  # The speech task's CER (jiwer's) is the table's.
  assert jiwer.cer(references, hypotheses) == pytest.approx(outputs["caption_metrics.cer"]["cer"])
  for name, metric in metrics.TABLE.items():
    assert metric.description and metric.scale, name


def test_reaches_follows_the_op():
  assert metrics.reaches(0.05, "<=", 0.05) and not metrics.reaches(0.06, "<=", 0.05)
  assert metrics.reaches(0.99, ">=", 0.99) and not metrics.reaches(0.98, ">=", 0.99)


def test_headline_is_sequence_accuracy_else_the_first_metric():
  event = {"split": "validation", "step": 5, "epoch": 1.0, "loss": 1.0, "sequence_accuracy": 0.5}
  assert metrics.headline(event) == "sequence_accuracy"
  assert metrics.headline({"split": "validation", "step": 5, "cer": 0.2, "wer": 0.3}) == "cer"
  assert metrics.headline({"split": "validation", "step": 5}) is None


# ---------------------------------------------------------------------------------------------
# config.stop_at: a name the table knows and the task reports.

@pytest.mark.parametrize("stop_at, words", [
    ("acuracy>=0.9", ["config.stop_at='acuracy>=0.9'", "'acuracy' is not a metric"]),
    ("wer<=0.1", ["config.stop_at names 'wer'", "arithmetic task does not report"]),
    ("sequence_accuracy_beam5>=0.9", ["'sequence_accuracy_beam5'", "does not report"]),
])
def test_stop_at_names_a_table_metric_the_task_reports(stop_at, words):
  config = config_lib.base_config()
  assert config.task.name == "arithmetic"
  config.stop_at = stop_at
  with pytest.raises(UserError) as info:
    config_lib.check(config, 1)
  for word in words:
    assert word in str(info.value)
  config.stop_at = "loss<=0.5"  # Lower is better: the op the user wrote is the one used.
  config_lib.check(config, 1)


# ---------------------------------------------------------------------------------------------
# A sweep dir built by hand: three finished runs of one validation curve each.

def _event(split, step, **values):
  return {"split": split, "step": step, "epoch": step / 10, "elapsed_s": float(step), **values}


def _sweep(tmp_path, curves):
  """A sweep dir of finished runs "seed=<i>", each with validation events (one per value, at
  steps 10, 20, ...) of the metrics in `curves[i]` and a test event of their last values."""
  sweep = tmp_path / "sweep"
  sweep.mkdir(parents=True)
  runs = [{"name": f"seed={i}", "overrides": {"seed": i}} for i in range(len(curves))]
  (sweep / sweeps.SWEEP_FILE).write_text(json.dumps({"config": "c.py", "sweep": "s",
                                                     "common": {}, "runs": runs}))
  for i, curve in enumerate(curves):
    run = sweep / f"seed={i}"
    run.mkdir()
    config = config_lib.base_config()
    config.seed = i
    (run / "config.json").write_text(config.to_json())
    steps = len(next(iter(curve.values())))
    events = [_event("validation", 10 * (s + 1), **{m: v[s] for m, v in curve.items()})
              for s in range(steps)]
    events.append(_event("test", 10 * steps, **{m: v[-1] for m, v in curve.items()}))
    (run / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (run / "done.json").write_text(json.dumps({"step": 10 * steps}))
  return sweep


# Error rates (and loss) that fall, then rise a little: best is not the final value.
ERRORS = [{"wer": [0.5, 0.2, 0.04, 0.06], "cer": [0.3, 0.1, 0.02, 0.03],
           "loss": [2.0, 1.0, 0.5, 0.7]},
          {"wer": [0.6, 0.3, 0.1, 0.08], "cer": [0.4, 0.2, 0.05, 0.04],
           "loss": [2.5, 1.5, 0.9, 0.8]},
          {"wer": [0.9, 0.8, 0.7, 0.75], "cer": [0.8, 0.6, 0.5, 0.55],
           "loss": [3.0, 2.9, 2.8, 2.85]}]


@pytest.mark.parametrize("metric, thresholds, best, reached", [
    ("wer", [0.25, 0.05], [0.04, 0.08, 0.7], {0.25: [20, 30, None], 0.05: [30, None, None]}),
    ("cer", [0.1], [0.02, 0.04, 0.5], {0.1: [20, 30, None]}),
    ("loss", [1.0], [0.5, 0.8, 2.8], {1.0: [20, 30, None]}),
])
def test_lower_is_better_best_is_the_least_and_thresholds_are_crossed_downward(
    tmp_path, metric, thresholds, best, reached):
  rows, _, _ = results.collect(str(_sweep(tmp_path, ERRORS)), metric, thresholds)
  assert [r[f"best_validation_{metric}"] for r in rows] == best
  assert [r[f"final_validation_{metric}"] for r in rows] == [c[metric][-1] for c in ERRORS]
  for threshold, steps in reached.items():
    assert [r[f"steps_to_{threshold:g}"] for r in rows] == steps


ACCURACY = [{"sequence_accuracy": [0.2, 0.95, 0.995, 0.97], "bleu": [5.0, 20.0, 31.0, 30.0]},
            {"sequence_accuracy": [0.1, 0.5, 0.92, 0.93], "bleu": [3.0, 10.0, 25.0, 26.0]},
            {"sequence_accuracy": [0.0, 0.1, 0.2, 0.3], "bleu": [1.0, 2.0, 3.0, 4.0]}]


def test_higher_is_better_best_is_the_greatest_and_thresholds_are_crossed_upward(tmp_path):
  rows, _, _ = results.collect(str(_sweep(tmp_path, ACCURACY)), "sequence_accuracy",
                               [0.9, 0.99])
  assert [r["best_validation_sequence_accuracy"] for r in rows] == [0.995, 0.93, 0.3]
  assert [r["steps_to_0.9"] for r in rows] == [20, 30, None]
  assert [r["steps_to_0.99"] for r in rows] == [30, None, None]
  assert [r["epochs_to_0.9"] for r in rows] == [2.0, 3.0, None]
  assert [r["wall_s_to_0.9"] for r in rows] == [20.0, 30.0, None]
  rows, _, _ = results.collect(str(_sweep(tmp_path / "bleu", ACCURACY)), "bleu", [25])
  assert [r["best_validation_bleu"] for r in rows] == [31.0, 26.0, 4.0]
  assert [r["steps_to_25"] for r in rows] == [30, 30, None]


# ---------------------------------------------------------------------------------------------
# scripts/aggregate.py and the launcher's status.

@pytest.fixture(scope="module")
def aggregate_main():
  return load_script("aggregate").main


def _table_rows(out):
  """results.md as {first cell: [cells]}."""
  lines = (out / "results.md").read_text().splitlines()
  header = [c.strip() for c in lines[0].strip("|").split("|")]
  rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
  return header, rows


def test_aggregate_an_error_rate(aggregate_main, tmp_path, capsys):
  sweep = _sweep(tmp_path, ERRORS)
  assert aggregate_main([str(sweep), "--metric=wer", "--no_plots"]) == 0
  header, rows = _table_rows(sweep)
  assert not [c for c in header if c.startswith("epochs_to_")]  # No default for an error rate.
  best = header.index("best_validation_wer")
  assert rows[0][best].startswith(f"{np.mean([0.04, 0.08, 0.7]):.4f}")
  assert aggregate_main([str(sweep), "--metric=wer", "--thresholds=0.25", "--no_plots"]) == 0
  header, rows = _table_rows(sweep)
  assert rows[0][header.index("epochs_to_0.25")].endswith("(2/3 reached)")
  capsys.readouterr()


def test_aggregate_default_thresholds_follow_the_table(aggregate_main, tmp_path, capsys):
  sweep = _sweep(tmp_path, ACCURACY)
  assert aggregate_main([str(sweep), "--no_plots"]) == 0
  header, rows = _table_rows(sweep)
  assert [c for c in header if c.startswith("epochs_to_")] == ["epochs_to_0.9", "epochs_to_0.99"]
  assert rows[0][header.index("epochs_to_0.9")].endswith("(2/3 reached)")
  assert aggregate_main([str(sweep), "--metric=bleu", "--no_plots"]) == 0  # 0-100: none.
  header, _ = _table_rows(sweep)
  assert not [c for c in header if c.startswith("epochs_to_")]
  capsys.readouterr()


def test_aggregate_takes_beam_suffixed_metrics(aggregate_main, tmp_path, capsys):
  curves = [{"sequence_accuracy": [0.5, 0.9]}, {"sequence_accuracy": [0.4, 0.8]}]
  sweep = _sweep(tmp_path, curves)
  for i, beam in enumerate((0.95, 0.85)):  # Only the final evaluation decodes with beams.
    with open(sweep / f"seed={i}" / "metrics.jsonl", "a") as f:
      f.write(json.dumps(_event("test", 20, sequence_accuracy_beam4=beam)) + "\n")
  assert aggregate_main([str(sweep), "--metric=sequence_accuracy_beam4", "--no_plots"]) == 0
  header, rows = _table_rows(sweep)
  assert rows[0][header.index("test_sequence_accuracy_beam4")].startswith("0.9000 ± 0.0707")
  capsys.readouterr()


def test_status_shows_the_headline_metric_by_name(tmp_path, capsys):
  launch = load_script("launch")
  sweep = _sweep(tmp_path, [{"sequence_accuracy": [0.5, 0.9], "loss": [1.0, 0.5]},
                            {"wer": [0.5, 0.25], "cer": [0.3, 0.125]}])
  planned = [{"name": f"seed={i}", "dir": str(sweep / f"seed={i}")} for i in range(2)]
  planned.append({"name": "pending", "dir": str(sweep / "pending")})
  capsys.readouterr()
  counts = launch.print_status(planned)
  lines = capsys.readouterr().out.splitlines()
  assert lines[0].split()[:4] == ["run", "state", "epoch", "validation"]
  assert "sequence_accuracy 0.9000" in lines[1] and "lower is better" not in lines[1]
  assert "wer 0.2500 (lower is better)" in lines[2]
  assert lines[3].split()[:4] == ["pending", "pending", "-", "-"]
  assert counts["done"] == 2 and counts["pending"] == 1
