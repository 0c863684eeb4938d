"""Aggregates a sweep directory: results.csv, results.md (mean ± std over seeds), PNG plots.

  python scripts/aggregate.py runs/ablation [--metric sequence_accuracy] \
      [--by reverse,bidirectional] [--thresholds 0.9,0.99] [--test_metrics bleu_beam5,chrf]
      [--out DIR] [--no_plots]

Every run is read, finished or not; the `state` column marks pending, running and failed runs,
and the markdown table counts them apart from the finished runs it averages.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from s2s import results  # pylint: disable=wrong-import-position
from s2s.errors import UserError, exit_on_user_error  # pylint: disable=wrong-import-position

METRICS = ("sequence_accuracy", "token_accuracy", "padded_char_accuracy", "loss", "bleu", "chrf",
           "exact_match")


def main(argv):
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("sweep_dir")
  p.add_argument("--metric", default="sequence_accuracy", choices=METRICS)
  p.add_argument("--by", default="", help="Swept params to group by (default: all but seed).")
  p.add_argument("--thresholds", default="0.9,0.99",
                 help="Validation metric values whose first epoch, step and wall time to report.")
  p.add_argument("--test_metrics", default="",
                 help="More test-split metrics to tabulate, e.g. bleu_beam5,chrf,chrf_beam5.")
  p.add_argument("--out", default="", help="Output directory (default: the sweep dir).")
  p.add_argument("--no_plots", action="store_true")
  args = p.parse_args(argv)
  try:
    thresholds = [float(t) for t in args.thresholds.split(",") if t.strip()]
  except ValueError:
    raise UserError(f"--thresholds {args.thresholds!r} is not a list of numbers") from None
  by = [b.strip() for b in args.by.split(",") if b.strip()]
  test_metrics = [m.strip() for m in args.test_metrics.split(",") if m.strip()]
  rows, params, by_fields = results.collect(args.sweep_dir, args.metric, thresholds, by,
                                            test_metrics)
  out = args.out or args.sweep_dir
  os.makedirs(out, exist_ok=True)
  results.write_csv(rows, os.path.join(out, "results.csv"))
  table = results.markdown(rows, by_fields, args.metric, thresholds, test_metrics)
  with open(os.path.join(out, "results.md"), "w") as f:
    f.write(table)
  written = [] if args.no_plots else results.plot(rows, params, by_fields, args.metric, out)
  print(table)
  states = {s: sum(r["state"] == s for r in rows) for s in ("done", "running", "pending",
                                                           "failed")}
  print(f"{len(rows)} run(s): " + ", ".join(f"{n} {s}" for s, n in states.items()))
  print("wrote " + ", ".join([os.path.join(out, "results.csv"), os.path.join(out, "results.md"),
                              *written]))
  return 0


if __name__ == "__main__":
  sys.exit(exit_on_user_error(main, sys.argv[1:]))
