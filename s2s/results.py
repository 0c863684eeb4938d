"""Results of a sweep: one summary row per run, groups over seeds, tables and plots."""

import collections
import csv
import math
import os
import re
import statistics
import textwrap

from s2s import metrics as metrics_lib
from s2s import reporting
from s2s import sweeps
from s2s.errors import UserError

# Fields that differ between runs without being part of what a sweep studies.
_NOT_PARAMS = ("data_dir", "wandb.name")


def flatten(config: dict, prefix: str = "") -> dict:
  out = {}
  for key, value in config.items():
    if isinstance(value, dict):
      out |= flatten(value, f"{prefix}{key}.")
    else:
      out[f"{prefix}{key}"] = value
  return out


def summarize_run(run: dict, metric: str, thresholds, test_metrics=()) -> dict:
  """Final and best metrics, progress, and when validation `metric` first reached each threshold.

  Also `curve` (validation (epoch, metric) pairs) and `slices` ({split: {"step", "slices"}} of
  each split's last event with accuracy by slice), which the CSV leaves out.

  Best and reaching follow the metric's direction (metrics.TABLE): for a lower-is-better metric
  such as loss or wer, best is the least value and a threshold is reached at or below it.
  """
  op = metrics_lib.better_op(metric)
  state, detail = sweeps.run_state(run["dir"])
  events = reporting.read_metrics(run["dir"])
  elapsed = [e["elapsed_s"] for e in events]  # Summed over resumed attempts.
  row = {"run": run["name"], "state": state, "detail": detail,
         "steps": events[-1]["step"] if events else 0,
         "epochs": round(events[-1]["epoch"], 3) if events else 0,
         "wall_s": round(elapsed[-1], 1) if events else 0}
  val = [(e, t) for e, t in zip(events, elapsed) if e["split"] == "validation" and metric in e]
  row[f"final_validation_{metric}"] = val[-1][0][metric] if val else None
  values = [e[metric] for e, _ in val]
  row[f"best_validation_{metric}"] = metrics_lib.best(metric, values) if values else None
  for split in ["test"] + [s for s in reporting.final_splits(events) if s != "test"]:
    final = [e for e in events if e["split"] == split and metric in e]
    if final or split == "test":
      row[f"{split}_{metric}"] = final[-1][metric] if final else None
  test = [e for e in events if e["split"] == "test"]
  for name in test_metrics:  # E.g. beam-search metrics, which only the final evaluation has.
    row[f"test_{name}"] = test[-1].get(name) if test else None
  for threshold in thresholds:
    hit = next(((e, t) for e, t in val if metrics_lib.reaches(e[metric], op, threshold)), None)
    tag = f"{threshold:g}"
    row[f"epochs_to_{tag}"] = round(hit[0]["epoch"], 3) if hit else None
    row[f"steps_to_{tag}"] = hit[0]["step"] if hit else None
    row[f"wall_s_to_{tag}"] = round(hit[1], 1) if hit else None
  row["curve"] = [(e["epoch"], e[metric]) for e, _ in val]
  # Accuracy by slice of each split's last event that has it: {split: {"step", "slices"}}.
  row["slices"] = {e["split"]: {"step": e["step"], "slices": e["slices"]}
                   for e in events if e.get("slices")}
  return row


def swept_params(runs: list[dict], configs: list[dict]) -> list[str]:
  """Dotted fields that vary across the runs: from the sweep's overrides, else the configs.

  A run that failed before writing its config.json counts with its overrides.
  """
  if all(r["overrides"] is not None for r in runs):
    fields = list(dict.fromkeys(f for r in runs for f in r["overrides"]))
  else:
    fields = list(dict.fromkeys(f for c in configs for f in c))
  return [f for f in fields if f not in _NOT_PARAMS
          and len({repr(_value(f, r, c)) for r, c in zip(runs, configs)}) > 1]


def _value(field, run, config):
  return config[field] if field in config else (run["overrides"] or {}).get(field)


def _resolve_by(by, params):
  fields = []
  for name in by:
    matches = [p for p in params if p == name or p.rsplit(".", 1)[-1] == name]
    if not matches:
      raise UserError(f"--by {name!r} is not a swept parameter (swept: {', '.join(params)})")
    fields.append(matches[0])
  return fields


def collect(sweep_dir: str, metric: str, thresholds, by=None, test_metrics=()):
  """(rows, params, group fields) of every run in a sweep dir, partial and failed ones included."""
  try:
    runs = sweeps.read_sweep_dir(sweep_dir)
  except (KeyError, TypeError) as e:
    raise UserError(f"{os.path.join(sweep_dir, sweeps.SWEEP_FILE)} is not the record of a "
                    f"sweep ({type(e).__name__}: {e}); move it away to read the run "
                    f"directories instead") from None
  if not runs:
    raise UserError(f"{sweep_dir!r} holds no runs (no {sweeps.SWEEP_FILE} and no run "
                    f"directories with a config.json)")
  configs = [sweeps.read_json(os.path.join(r["dir"], "config.json"), {}) for r in runs]
  configs = [flatten(c) if isinstance(c, dict) else {} for c in configs]  # Unreadable: none.
  params = swept_params(runs, configs)
  by_fields = _resolve_by(by, params) if by else [p for p in params if p != "seed"]
  rows = []
  for run, config in zip(runs, configs):
    row = {p: _value(p, run, config) for p in params}
    try:
      row |= summarize_run(run, metric, thresholds, test_metrics)
    except (OSError, ValueError, KeyError, TypeError) as e:  # A file not as a run writes it.
      raise UserError(f"cannot read the results of run {run['name']} in {run['dir']}: "
                      f"{type(e).__name__}: {' '.join(str(e).split())}") from None
    rows.append(row)
  return rows, params, by_fields


def _mean_std(values):
  values = [v for v in values if v is not None]
  if not values:
    return "-"
  mean = statistics.fmean(values)
  digits = 4 if abs(mean) < 10 else 1
  if len(values) == 1:  # One run has no spread to show.
    return f"{mean:.{digits}f}"
  return f"{mean:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _sort_key(values):
  """Numbers in numeric order (64 before 128), then everything else as text."""
  return tuple((0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)) for v in values)


def groups(rows, by_fields):
  out = {}
  for row in rows:
    out.setdefault(tuple(row[f] for f in by_fields), []).append(row)
  return out


def write_csv(rows, path):
  columns = [c for c in rows[0] if c not in ("curve", "slices")]
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
      writer.writerow({k: ("" if v is None else v) for k, v in row.items()})


def markdown(rows, by_fields, metric, thresholds, test_metrics=()) -> str:
  """Mean ± std over the finished runs of each group; unfinished runs are counted apart."""
  short = sweeps._short_names(by_fields)  # pylint: disable=protected-access
  stats = [f"final_validation_{metric}", f"best_validation_{metric}", f"test_{metric}"]
  stats += [f"test_{m}" for m in test_metrics if m != metric]
  header = [short[f] for f in by_fields] + ["n", "not done"] + stats + [
      f"epochs_to_{t:g}" for t in thresholds]
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  for key, members in sorted(groups(rows, by_fields).items(), key=lambda kv: _sort_key(kv[0])):
    done = [r for r in members if r["state"] == "done"]
    # Pending and running runs are counted; failed ones are named, since someone must look.
    counts = collections.Counter(r["state"] for r in members if r["state"] in ("pending", "running"))
    not_done = [f"{n} {state}" for state, n in sorted(counts.items())]
    not_done += [f"{r['run']} (failed)" for r in members if r["state"] == "failed"]
    not_done = "; ".join(not_done)
    cells = [str(v) for v in key] + [str(len(done)), not_done or "-"]
    cells += [_mean_std([r[s] for r in done]) for s in stats]
    for t in thresholds:
      reached = [r[f"epochs_to_{t:g}"] for r in done if r[f"epochs_to_{t:g}"] is not None]
      cells.append(f"{_mean_std(reached)} ({len(reached)}/{len(done)} reached)")
    lines.append("| " + " | ".join(cells) + " |")
  return "\n".join(lines) + "\n"


def _plotted(rows, params):
  """Swept params worth a plot of their own: not the seed, and not one whose value follows from
  an earlier one's (fields zipped with it, such as num_examples with digits)."""
  kept = []
  for param in params:
    if param == "seed":
      continue
    if not any(len({repr(r[other]) for r in rows})
               == len({(repr(r[other]), repr(r[param])) for r in rows}) for other in kept):
      kept.append(param)
  return kept


def _save(fig, path: str) -> str:
  """Writes a figure as a PNG, closes it, and returns its path."""
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def plot(rows, params, by_fields, metric, out_dir) -> list[str]:
  """learning_curves.png (validation metric per epoch, a panel per group) and one
  <metric>_vs_<param>.png per swept parameter (but the seed, and fields zipped with an earlier
  one); unfinished runs are dashed or hollow."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  written = []
  grouped = sorted(groups(rows, by_fields).items(), key=lambda kv: _sort_key(kv[0]))
  cols = min(4, len(grouped))
  nrows = math.ceil(len(grouped) / cols)
  fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 3.3 * nrows), squeeze=False,
                           sharey=True)
  short = sweeps._short_names(by_fields)  # pylint: disable=protected-access
  for ax, (key, members) in zip(axes.flat, grouped):
    for r in members:
      if r["curve"]:
        x, y = zip(*r["curve"])
        ax.plot(x, y, "-" if r["state"] == "done" else "--", marker=".",
                label=r["run"] if len(members) <= 4 else None)
    title = ", ".join(f"{short[f]}={v}" for f, v in zip(by_fields, key)) or "all"
    ax.set_title(textwrap.fill(title, 45), fontsize=8)
    ax.set_xlabel("epoch")
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(grouped):]:
    ax.axis("off")
  axes[0][0].set_ylabel(f"validation {metric}")
  written.append(_save(fig, os.path.join(out_dir, "learning_curves.png")))

  column = f"final_validation_{metric}"
  for param in _plotted(rows, params):
    values = [repr(v) for v in sorted({r[param] for r in rows}, key=lambda v: _sort_key((v,)))]
    position = {v: i for i, v in enumerate(values)}
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for r in rows:
      if r[column] is not None:
        done = r["state"] == "done"
        ax.scatter(position[repr(r[param])], r[column], facecolors="C0" if done else "none",
                   edgecolors="C0")
    means = [statistics.fmean(vs) if vs else float("nan") for vs in (
        [r[column] for r in rows if repr(r[param]) == v and r["state"] == "done"
         and r[column] is not None] for v in values)]
    ax.plot(range(len(values)), means, "k_", markersize=20, label="mean of done runs")
    ax.set_xticks(range(len(values)), [v.strip("'") for v in values])
    ax.set_xlabel(param)
    ax.set_ylabel(f"final validation {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    written.append(_save(fig, os.path.join(out_dir, f"{metric}_vs_{param}.png")))
  return written


# ---------------------------------------------------------------------------------------------
# Accuracy by slice ({family: {label: {"count", "sequence_accuracy"}}} in a split's events).

def slice_splits(rows) -> list[str]:
  """The splits with accuracy by slice in any run of `rows` (collect's), in event order."""
  return list(dict.fromkeys(split for r in rows for split in r["slices"]))


def _label_order(label):
  from s2s import evaluation  # pylint: disable=import-outside-toplevel  # jax and TF: only here.
  return evaluation._label_order(label)  # pylint: disable=protected-access


def slice_families(srows) -> dict:
  """{family: its labels, the union over runs in the events' (numeric-aware) order} of
  slice_rows' rows, families in the order they first appear."""
  labels = {}
  for r in srows:
    labels.setdefault(r["family"], {})[r["label"]] = None
  return {family: sorted(names, key=_label_order) for family, names in labels.items()}


def slice_rows(rows, params, split: str, families=None) -> list[dict]:
  """Accuracy by slice of `split` in long format: one dict per run x family x label, with the
  swept `params`, run, state, step (of the run's last `split` event with slices), family,
  label, count and sequence_accuracy. Runs without such an event are left out, finished or not.

  `rows` and `params` are collect's. `families` (names) keeps only those; None keeps all.
  A split no run has slices for, or a family no run reports, is a UserError (`--slices`,
  `--families`) naming the ones there are.
  """
  if not any(split in r["slices"] for r in rows):
    known = ", ".join(slice_splits(rows)) or "none"
    raise UserError(f"--slices {split}: no run has accuracy by slice for split {split!r} "
                    f"(splits with slices: {known})")
  out = []
  for r in rows:
    if split not in r["slices"]:
      continue
    record = r["slices"][split]
    try:
      for family, labels in record["slices"].items():
        for label, cell in labels.items():
          out.append({**{p: r[p] for p in params}, "run": r["run"], "state": r["state"],
                      "step": record["step"], "family": family, "label": str(label),
                      "count": int(cell["count"]),
                      "sequence_accuracy": float(cell["sequence_accuracy"])})
    except (AttributeError, KeyError, TypeError, ValueError) as e:
      raise UserError(f"cannot read the {split} slices of run {r['run']}: "
                      f"{type(e).__name__}: {' '.join(str(e).split())}") from None
  if families is not None:
    known = list(slice_families(out))
    for family in families:
      if family not in known:
        raise UserError(f"--families {family}: no run reports a slice family {family!r} for "
                        f"split {split!r} (known: {', '.join(known)})")
    out = [s for s in out if s["family"] in families]
  return out


def _shown_families(srows, families=None) -> dict:
  """{family: labels} of the table and plots: `families` if given, else those with 2+ labels."""
  all_families = slice_families(srows)
  if families is not None:
    return {f: all_families[f] for f in families}
  return {f: labels for f, labels in all_families.items() if len(labels) > 1}


def _slice_groups(srows, by_fields, family):
  """[(group key, run names, {label: [sequence_accuracy of each run that has it]})], sorted."""
  out = {}
  for s in srows:
    if s["family"] != family:
      continue
    key = tuple(s[f] for f in by_fields)
    runs, values = out.setdefault(key, ({}, {}))
    runs[s["run"]] = s["state"]
    values.setdefault(s["label"], []).append(s["sequence_accuracy"])
  return sorted(((k, runs, values) for k, (runs, values) in out.items()),
                key=lambda kv: _sort_key(kv[0]))


def slice_markdown(srows, by_fields, split: str, families=None) -> str:
  """A markdown section per family of slice_rows' rows: a row per group (`by_fields`' values,
  as collect groups runs), a column per label, cells the mean ± std of sequence_accuracy over
  the group's runs that have the label. A label's count is in its header where every run has
  the same, else a footnote says which differ. `families` as slice_rows'; None: those with
  2+ labels (every family stays in the CSV)."""
  short = sweeps._short_names(by_fields)  # pylint: disable=protected-access
  shown = _shown_families(srows, families)
  lines = [f"# {split}: sequence_accuracy by slice",
           "",
           f"Mean ± std over each group's runs with {split} slices (the last such event of each "
           "run, finished or not) that have the label; n: the label's examples."]
  if not shown:
    lines += ["", "No family has more than one label; see the CSV."]
  for family, labels in shown.items():
    counts = {label: {s["count"] for s in srows if s["family"] == family and s["label"] == label}
              for label in labels}
    header = [short[f] for f in by_fields] + ["runs"] + [
        f"{label} (n={next(iter(counts[label]))})" if len(counts[label]) == 1 else label
        for label in labels]
    lines += ["", f"## {family}", "", "| " + " | ".join(header) + " |",
              "|" + "---|" * len(header)]
    for key, runs, values in _slice_groups(srows, by_fields, family):
      not_done = sum(state != "done" for state in runs.values())
      cells = [str(v) for v in key] + [
          f"{len(runs)}" + (f" ({not_done} not done)" if not_done else "")]
      cells += [_mean_std(values[label]) if label in values else "-" for label in labels]
      lines.append("| " + " | ".join(cells) + " |")
    varying = [label for label in labels if len(counts[label]) > 1]
    if varying:
      lines += ["", f"n differs across runs for {', '.join(varying)} (see the CSV)."]
  return "\n".join(lines) + "\n"


def _file_part(name: str) -> str:
  return re.sub(r"[^\w.-]", "_", name)


def slice_path(out_dir: str, split: str, ext: str) -> str:
  """<out_dir>/slices_<split>.<ext>: where the slice table (md) and rows (csv) of a split go."""
  return os.path.join(out_dir, f"slices_{_file_part(split)}.{ext}")


def plot_slices(srows, by_fields, split: str, out_dir: str, families=None) -> list[str]:
  """slices_<split>_<family>.png per family shown (as slice_markdown's, but never one with a
  single label): sequence_accuracy by label, a line per group, with the std over its runs as
  error bars. Returns the paths written."""
  import matplotlib  # pylint: disable=import-outside-toplevel
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
  short = sweeps._short_names(by_fields)  # pylint: disable=protected-access
  written = []
  for family, labels in _shown_families(srows, families).items():
    if len(labels) < 2:
      continue
    fig, ax = plt.subplots(figsize=(min(14, max(5, 0.45 * len(labels) + 2.5)), 3.8))
    for key, _, values in _slice_groups(srows, by_fields, family):
      x = [i for i, label in enumerate(labels) if label in values]
      means = [statistics.fmean(values[labels[i]]) for i in x]
      stds = [statistics.stdev(values[labels[i]]) if len(values[labels[i]]) > 1 else 0.0
              for i in x]
      name = ", ".join(f"{short[f]}={v}" for f, v in zip(by_fields, key)) or "all"
      ax.errorbar(x, means, yerr=stds, marker="o", markersize=4, capsize=3, label=name)
    ax.set_xticks(range(len(labels)), labels, rotation=45 if len(labels) > 8 else 0,
                  fontsize=8)
    ax.set_xlabel(family)
    ax.set_ylabel(f"{split} sequence_accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    ax.set_title(f"{split}: sequence_accuracy by {family}", fontsize=9)
    written.append(_save(fig, os.path.join(
        out_dir, f"slices_{_file_part(split)}_{_file_part(family)}.png")))
  return written
