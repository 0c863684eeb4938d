"""Aggregates a sweep directory: results.csv, results.md (mean ± std over seeds), PNG plots.

  python scripts/aggregate.py runs/ablation [--metric sequence_accuracy] \
      [--by reverse,bidirectional] [--thresholds 0.9,0.99] [--test_metrics bleu_beam5,chrf]
      [--slices test [--families carries,operand_digits]] [--out DIR] [--no_plots]
  python scripts/aggregate.py runs/ablation --metric loss --thresholds 0.1,0.01
  python scripts/aggregate.py runs/arithmetic --slices length_generalization

Metric names, and whether lower is better, come from s2s.metrics.TABLE.

Every run is read, finished or not; the `state` column marks pending, running and failed runs,
and the markdown table counts them apart from the finished runs it averages.

--slices SPLIT also tabulates accuracy by slice (the `slices` of the split's last event in each
run that has one, finished or not): slices_<SPLIT>.md, a table per slice family with a row per
group and a column per label (mean ± std of sequence_accuracy over the group's runs);
slices_<SPLIT>.csv, a row per run x family x label; and a slices_<SPLIT>_<family>.png each.
The table and plots show the families with 2+ labels, or those --families names; the CSV has
every family, or those --families names.
"""

import argparse
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from s2s import metrics as metrics_lib  # pylint: disable=wrong-import-position
from s2s import results  # pylint: disable=wrong-import-position
from s2s.errors import UserError, exit_on_user_error  # pylint: disable=wrong-import-position

# Thresholds of a higher-is-better metric on a 0-1 scale when --thresholds is not given; no
# default fits a loss, an error rate or a 0-100 score, so those report only the ones passed.
DEFAULT_THRESHOLDS = "0.9,0.99"


class _ArgumentParser(argparse.ArgumentParser):
  """argparse whose errors are a UserError (one `error:` line, exit 2), as all of s2s's are."""

  def error(self, message):
    raise UserError(message)


def _names(flag, text):
  names = [m.strip() for m in text.split(",") if m.strip()]
  for name in names:
    if not re.fullmatch(r"[\w.]+", name):
      raise UserError(f"{flag} {text!r}: {name!r} is not a metric or field name")
  return names


def _check_reported(rows, metric, test_metrics):
  """Names no finished run reports are typos, not missing results."""
  done = [r for r in rows if r["state"] == "done"]
  if not done:
    return  # Nothing is final yet: no way to tell.
  for flag, name in [("--metric", metric)] + [("--test_metrics", m) for m in test_metrics]:
    if all(r[f"test_{name}"] is None for r in done):
      raise UserError(f"{flag} {name}: none of the {len(done)} finished run(s) reports it "
                      f"in its test evaluation")


def main(argv):
  p = _ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("sweep_dir")
  p.add_argument("--metric", default="sequence_accuracy",
                 help=f"Validation and test metric to tabulate: one of "
                 f"{', '.join(metrics_lib.TABLE)}, or a beam-search one such as "
                 f"sequence_accuracy_beam5 (default: %(default)s).")
  p.add_argument("--by", default="", help="Swept params to group by (default: all but seed).")
  lower = ", ".join(n for n, m in metrics_lib.TABLE.items() if m.lower_is_better)
  p.add_argument("--thresholds", default=None,
                 help="Validation metric values whose first epoch, step and wall time to report. "
                 "A run reaches a threshold at or above it, or at or below it for a metric where "
                 f"lower is better ({lower}). Default: {DEFAULT_THRESHOLDS} for a 0-1 metric "
                 "where higher is better (the accuracies), none for the others.")
  p.add_argument("--test_metrics", default="",
                 help="More test-split metrics to tabulate, e.g. bleu_beam5,chrf,chrf_beam5.")
  p.add_argument("--slices", default="", metavar="SPLIT",
                 help="Also tabulate and plot accuracy by slice of this split's events, e.g. "
                 "test, validation or length_generalization (default: none).")
  p.add_argument("--families", default="",
                 help="With --slices: the slice families to show, e.g. carries,operand_digits "
                 "(default: those with 2+ labels in the table and plots, all in the CSV).")
  p.add_argument("--out", default="", help="Output directory (default: the sweep dir).")
  p.add_argument("--no_plots", action="store_true")
  args = p.parse_args(argv)
  metric = metrics_lib.lookup(args.metric, "--metric")
  if args.thresholds is None:
    accuracy = not metric.lower_is_better and metric.scale == "0-1"
    args.thresholds = DEFAULT_THRESHOLDS if accuracy else ""
  try:
    thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
  except ValueError:
    raise UserError(f"--thresholds {args.thresholds!r} is not a list of numbers") from None
  if not all(math.isfinite(t) for t in thresholds):
    raise UserError(f"--thresholds {args.thresholds!r}: every threshold must be a finite number")
  by = _names("--by", args.by)
  test_metrics = _names("--test_metrics", args.test_metrics)
  for name in test_metrics:
    metrics_lib.lookup(name, "--test_metrics")
  families = [f.strip() for f in args.families.split(",") if f.strip()] or None
  if families and not args.slices:
    raise UserError(f"--families {args.families} needs --slices SPLIT")
  if os.path.exists(args.sweep_dir) and not os.path.isdir(args.sweep_dir):
    raise UserError(f"sweep directory {args.sweep_dir!r} is not a directory")
  rows, params, by_fields = results.collect(args.sweep_dir, args.metric, thresholds, by,
                                            test_metrics)
  _check_reported(rows, args.metric, test_metrics)
  out = args.out or args.sweep_dir
  table = results.markdown(rows, by_fields, args.metric, thresholds, test_metrics)
  if args.slices:  # Checked before anything is written.
    srows = results.slice_rows(rows, params, args.slices, families)
    slice_table = results.slice_markdown(srows, by_fields, args.slices, families)
  try:
    os.makedirs(out, exist_ok=True)
    results.write_csv(rows, os.path.join(out, "results.csv"))
    with open(os.path.join(out, "results.md"), "w") as f:
      f.write(table)
    written = [] if args.no_plots else results.plot(rows, params, by_fields, args.metric, out)
    if args.slices:
      slice_files = [results.slice_path(out, args.slices, "csv"),
                     results.slice_path(out, args.slices, "md")]
      results.write_csv(srows, slice_files[0])
      with open(slice_files[1], "w") as f:
        f.write(slice_table)
      written += slice_files
      if not args.no_plots:
        written += results.plot_slices(srows, by_fields, args.slices, out, families)
  except OSError as e:
    raise UserError(f"cannot write the results to --out {out!r}: "
                    f"{e.strerror or e}{f' ({e.filename})' if e.filename else ''}") from None
  except ImportError as e:
    raise UserError(f"the plots need matplotlib ({e}): pip install matplotlib, or pass "
                    f"--no_plots") from None
  print(table)
  if args.slices:
    print(slice_table)
  states = {s: sum(r["state"] == s for r in rows) for s in ("done", "running", "pending",
                                                           "failed")}
  print(f"{len(rows)} run(s): " + ", ".join(f"{n} {s}" for s, n in states.items()))
  print("wrote " + ", ".join([os.path.join(out, "results.csv"), os.path.join(out, "results.md"),
                              *written]))
  return 0


if __name__ == "__main__":
  sys.exit(exit_on_user_error(main, sys.argv[1:]))
