"""Launches a sweep defined in a config file, one workdir per run, locally or on SLURM.

  python scripts/launch.py --config configs/arithmetic.py --sweep ablation \
      --workdir runs/ablation --backend local [--parallel 2] [--dry_run] [--status]
  python scripts/launch.py --config configs/addition.py --sweep keras_table \
      --workdir runs/keras --backend slurm --partition gpu --time 600 --gpus_per_task 1 --wait

Relaunching the same command skips finished runs and reruns failed or interrupted ones,
which resume from their checkpoints. `--set field=value` (repeatable) applies to every run
without entering run names (e.g. `--set data_dir=/data/tfds`).
"""

import argparse
import concurrent.futures
import math
import os
import queue
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from s2s import config as config_lib  # pylint: disable=wrong-import-position
from s2s import reporting  # pylint: disable=wrong-import-position
from s2s import sweeps  # pylint: disable=wrong-import-position
from s2s.errors import UserError, exit_on_user_error  # pylint: disable=wrong-import-position


class _ArgumentParser(argparse.ArgumentParser):
  """argparse whose errors are a UserError (one `error:` line, exit 2), as all of s2s's are."""

  def error(self, message):
    raise UserError(message)


# Launcher flags that count something: the least each may be.
_MINIMUM = {"parallel": 0, "time": 1, "cpus_per_task": 1, "gpus_per_task": 0, "mem_gb": 0,
            "nodes": 1, "tasks_per_node": 1}


def parse_args(argv):
  p = _ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--config", required=True, help="Config file, optionally with :arguments.")
  p.add_argument("--sweep", required=True, help="Name of a sweep in the config's SWEEPS.")
  p.add_argument("--workdir", required=True, help="Sweep directory: one subdirectory per run.")
  p.add_argument("--backend", choices=("local", "slurm"), default="local")
  p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                 help="Override for every run (not part of run names).")
  p.add_argument("--parallel", type=int, default=0,
                 help="local: runs at a time (default: one per available core); "
                      "slurm: array tasks at a time (default: no limit).")
  p.add_argument("--dry_run", action="store_true", help="Print what would run; run nothing.")
  p.add_argument("--status", action="store_true", help="Print the state of every run.")
  p.add_argument("--no_prepare", action="store_true",
                 help="Do not prepare the datasets in the launcher before starting runs.")
  slurm = p.add_argument_group("slurm")
  slurm.add_argument("--partition", default="")
  slurm.add_argument("--time", type=int, default=24 * 60, help="Minutes per run.")
  slurm.add_argument("--cpus_per_task", type=int, default=2)
  slurm.add_argument("--gpus_per_task", type=int, default=0)
  slurm.add_argument("--mem_gb", type=float, default=0, help="0 = the partition's default.")
  slurm.add_argument("--nodes", type=int, default=1, help="Nodes per run.")
  slurm.add_argument("--tasks_per_node", type=int, default=1)
  slurm.add_argument("--account", default="")
  slurm.add_argument("--wait", action="store_true", help="Block until the array finishes.")
  args = p.parse_args(argv)
  for name, least in _MINIMUM.items():
    value = getattr(args, name)
    if not (math.isfinite(value) and value >= least):
      raise UserError(f"--{name} must be a number >= {least}, got {value}")
  return args


def _parse_set(items):
  overrides = {}
  for item in items:
    field, sep, text = item.partition("=")
    if not sep:
      raise UserError(f"--set {item!r} is not of the form field=value")
    overrides[field.strip()] = text
  return overrides


def _typed_common(config_arg, common):
  """--set values are strings; type them like the config's fields (via a resolved config)."""
  config = sweeps.resolve_config(config_arg, {})
  typed = {}
  for field, text in common.items():
    node = config
    for part in field.split(".")[:-1]:
      node = node[part] if part in node and hasattr(node[part], "keys") else None
      if node is None:
        raise UserError(f"unknown config field {field!r} in --set")
    leaf = field.split(".")[-1]
    if leaf not in node or hasattr(node[leaf], "keys"):
      raise UserError(f"unknown config field {field!r} in --set")
    old = node[leaf]
    try:
      if isinstance(old, bool):
        if text.lower() not in ("true", "false", "1", "0"):
          raise ValueError
        typed[field] = text.lower() in ("true", "1")
      else:
        typed[field] = type(old)(text)
    except ValueError:
      raise UserError(f"--set {field}={text}: {config_lib.type_error(field, text)}") from None
  return typed


def plan(args):
  """The runs of the sweep: [{name, dir, overrides, config}], checked before anything runs.

  Every run's config must pass config_lib.check, so that one bad value stops the launch
  before any run starts. The launcher counts 1 device: it may not be where the runs train
  (SLURM), and asking JAX would claim the accelerators its local runs need; each run checks
  its batch sizes against its own devices when it starts. SLURM runs get --mem_gb of memory
  (unknown if 0: the partition's default), local runs this machine's.
  """
  runs = sweeps.load_sweep(args.config, args.sweep)
  common = _typed_common(args.config, _parse_set(args.set))
  names = sweeps.run_names(runs)
  memory = None  # This machine's.
  if args.backend == "slurm":
    memory = args.mem_gb * 1e9 if args.mem_gb else math.inf
  planned = []
  for name, overrides in zip(names, runs):
    full = {**overrides, **common}
    try:
      config = sweeps.resolve_config(args.config, full)
      config_lib.check(config, device_count=1, memory_bytes=memory)
    except UserError as e:
      raise UserError(f"run {name} of sweep {args.sweep!r}: {e}") from None
    planned.append({"name": name, "dir": os.path.join(args.workdir, name),
                    "overrides": overrides, "full": full, "config": config})
  return planned, common


def record_sweep(args, planned, common):
  os.makedirs(args.workdir, exist_ok=True)
  sweeps.write_json(os.path.join(args.workdir, sweeps.SWEEP_FILE), {
      "config": args.config, "sweep": args.sweep, "common": common,
      "runs": [{"name": r["name"], "overrides": r["overrides"]} for r in planned]})


def print_status(planned):
  """A line per run: its state, epoch, and its last validation's headline metric
  (metrics.headline), named, and marked where lower is better."""
  from s2s import metrics as metrics_lib  # pylint: disable=import-outside-toplevel
  rows = []
  for run in planned:
    state, detail = sweeps.run_state(run["dir"])
    events = reporting.read_metrics(run["dir"])
    val = [e for e in events if e.get("split") == "validation"]
    epoch = f"{events[-1]['epoch']:.2f}" if events else "-"
    name = metrics_lib.headline(val[-1]) if val else None
    shown = "-"
    if name:
      lower = " (lower is better)" if metrics_lib.lower_is_better(name) else ""
      shown = f"{name} {val[-1][name]:.4f}{lower}"
    rows.append((run["name"], state, epoch, shown, detail))
  header = ("run", "state", "epoch", "validation", "detail")
  widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(4)]
  for row in [header] + rows:
    print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)) + "  " + row[4])
  counts = {s: sum(r[1] == s for r in rows) for s in sweeps.STATES}
  print(", ".join(f"{n} {s}" for s, n in counts.items()))
  return counts


def prepare_datasets(planned):
  """Prepares each distinct dataset once, so that concurrent runs never prepare the same one."""
  from s2s import dataset  # pylint: disable=import-outside-toplevel
  seen = set()
  for run in planned:
    config = run["config"]
    key = (config.task.to_json(sort_keys=True), config.data_dir)
    if key in seen:
      continue
    seen.add(key)
    try:
      dataset.load(config.task, config.data_dir)
    except UserError as e:  # The run reports it as its own failure.
      print(f"{run['name']}: cannot prepare its dataset ({e}); the run will fail", flush=True)


def _core_slots(parallel):
  cores = sorted(os.sched_getaffinity(0))
  per_run = max(1, len(cores) // parallel)
  return [set(cores[(i * per_run) % len(cores):][:per_run] or cores[:per_run])
          for i in range(parallel)]


def launch_local(args, todo):
  cores = len(os.sched_getaffinity(0))
  parallel = max(1, min(args.parallel or cores, len(todo)))
  slots = queue.Queue()
  for slot in _core_slots(parallel):
    slots.put(slot)
  print(f"running {len(todo)} run(s), {parallel} at a time on {cores} core(s)", flush=True)

  def run_one(run):
    slot = slots.get()
    try:
      env = dict(os.environ)
      threads = str(len(slot))
      env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads, OPENBLAS_NUM_THREADS=threads)
      command = ["taskset", "-c", ",".join(map(str, sorted(slot)))] if shutil.which(
          "taskset") and parallel > 1 else []
      command += sweeps.train_command(args.config, run["dir"], run["full"])
      print(f"start {run['name']}", flush=True)
      returncode = sweeps.execute(command, run["dir"], env=env)
      state, detail = sweeps.run_state(run["dir"])
      print(f"{state} {run['name']}" + (f": {detail}" if detail else ""), flush=True)
      return returncode
    finally:
      slots.put(slot)

  with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
    list(pool.map(run_one, todo))


def check_slurm():
  if not shutil.which("sbatch"):
    raise UserError("SLURM is not available: sbatch is not on PATH")
  try:
    out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30)
  except (OSError, subprocess.TimeoutExpired) as e:
    raise UserError(f"SLURM is unreachable: sinfo failed ({e})") from None
  if out.returncode:
    message = " ".join(out.stderr.split())[:200]
    raise UserError(f"SLURM is unreachable: {message or 'sinfo exited ' + str(out.returncode)}")


def launch_slurm(args, todo):
  check_slurm()
  try:
    import submitit  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise UserError("the slurm backend needs submitit: pip install submitit") from None
  log_dir = os.path.join(os.path.abspath(args.workdir), "slurm_logs")
  executor = submitit.SlurmExecutor(folder=log_dir)  # Files named <array>_<task>_*.
  params = dict(time=args.time, cpus_per_task=args.cpus_per_task, nodes=args.nodes,
                ntasks_per_node=args.tasks_per_node, job_name=f"s2s_{args.sweep}",
                setup=[f"export PYTHONPATH={sweeps.ROOT}:${{PYTHONPATH:-}}",
                       f"cd {sweeps.ROOT}"])
  if args.partition:
    params["partition"] = args.partition
  if args.gpus_per_task:
    params["gpus_per_node"] = args.gpus_per_task
  if args.mem_gb:
    params["mem"] = f"{int(args.mem_gb * 1024)}M"
  if args.account:
    params["account"] = args.account
  if args.parallel:
    params["array_parallelism"] = args.parallel
  executor.update_parameters(**params)
  tasks = []
  for run in todo:
    os.makedirs(run["dir"], exist_ok=True)
    command = sweeps.train_command(args.config, run["dir"], run["full"])
    tasks.append(sweeps.SlurmTask(command, os.path.abspath(run["dir"])))
  try:
    with executor.batch():
      jobs = [executor.submit(task) for task in tasks]
  except Exception as e:  # pylint: disable=broad-except
    raise UserError(f"SLURM refused the job array: {' '.join(str(e).split())[:300]}") from None
  for run, job in zip(todo, jobs):
    path = os.path.join(run["dir"], sweeps.STATE_FILE)
    if sweeps.read_json(path, {}).get("slurm_job_id") == job.job_id:
      continue  # The task already started (and may have finished): keep what it wrote.
    sweeps.write_json(path, {
        "state": "submitted", "slurm_job_id": job.job_id, "submitted": sweeps.now(),
        "log": str(job.paths.stdout)})
  print(f"submitted {len(jobs)} run(s) as SLURM array {jobs[0].job_id.split('_')[0]}; "
        f"logs in {log_dir}/ and each run's {sweeps.LOG_FILE}", flush=True)
  if not args.wait:
    return False
  # Polls squeue and the runs' own state files: works without SLURM accounting (sacct).
  while any(sweeps.run_state(run["dir"])[0] == "running" for run in todo):
    time.sleep(5)
  for run in todo:
    state, detail = sweeps.run_state(run["dir"])
    print(f"{state} {run['name']}" + (f": {detail}" if detail else ""), flush=True)
  return True


def main(argv):
  args = parse_args(argv)
  planned, common = plan(args)
  if args.status:
    counts = print_status(planned)
    return 1 if counts["failed"] else 0
  states = {r["name"]: sweeps.run_state(r["dir"]) for r in planned}
  todo = [r for r in planned if states[r["name"]][0] in ("pending", "failed")]
  done = [r for r in planned if states[r["name"]][0] == "done"]
  running = [r for r in planned if states[r["name"]][0] == "running"]
  print(f"sweep {args.sweep!r}: {len(planned)} run(s); {len(done)} done (skipped), "
        f"{len(running)} running elsewhere (skipped), {len(todo)} to run", flush=True)
  if args.dry_run:
    for run in todo:
      print(f"{run['name']}: {' '.join(sweeps.train_command(args.config, run['dir'], run['full']))}")
    return 0
  if not todo:
    return 0
  if args.backend == "slurm":
    check_slurm()
  record_sweep(args, planned, common)
  if not args.no_prepare:
    prepare_datasets(todo)
  if args.backend == "local":
    launch_local(args, todo)
  elif not launch_slurm(args, todo):
    return 0  # Submitted; `--status` follows it.
  failed = [(r["name"], sweeps.run_state(r["dir"])[1]) for r in todo
            if sweeps.run_state(r["dir"])[0] != "done"]
  print(f"{len(todo) - len(failed)} of {len(todo)} run(s) finished" +
        (f"; {len(failed)} failed:" if failed else ""), flush=True)
  for name, why in failed:
    print(f"  {name}: {why}  (log: {os.path.join(args.workdir, name, sweeps.LOG_FILE)})")
  return 1 if failed else 0


if __name__ == "__main__":
  sys.exit(exit_on_user_error(main, sys.argv[1:]))
