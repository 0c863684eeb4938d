"""Sweeps: lists of config overrides defined in config files, run names, run states.

A config file may define `SWEEPS = {name: [override dict, ...]}`; each dict maps dotted config
fields to values (`{"model.hidden_size": 128, "seed": 0}`) and becomes one run, trained with
`--config.<field>=<value>` in its own workdir `<sweep dir>/<run name>`. Build the lists with
`axis`, `product`, `zip_` and `seeds`:

  SWEEPS = {"ablation": product(axis("task.reverse", [True, False]), seeds(3))}
"""

import datetime
import importlib.util
import itertools
import json
import os
import re
import socket
import subprocess
import sys

from s2s import config as config_lib
from s2s import workdir as workdir_lib
from s2s.errors import UserError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWEEP_FILE = "sweep.json"  # In the sweep dir: the config, the common overrides, every run.
STATE_FILE = "launch_state.json"  # In a run dir: written by the launcher around each attempt.
LOG_FILE = "train.log"  # In a run dir: the train command's stdout and stderr.
STATES = ("pending", "running", "done", "failed")


# ---------------------------------------------------------------------------------------------
# Building sweeps.

def axis(field: str, values) -> list[dict]:
  """One field taking each of `values`: `[{field: v} for v in values]`."""
  return [{field: v} for v in values]


def _as_sweep(sweep) -> list[dict]:
  if isinstance(sweep, dict):  # {field: [values]}: the product of its axes.
    return product(*(axis(k, v) for k, v in sweep.items()))
  return [dict(d) for d in sweep]


def product(*sweeps) -> list[dict]:
  """Every combination of the sweeps' runs (the last sweep varies fastest)."""
  runs = [{}]
  for sweep in map(_as_sweep, sweeps):
    runs = [{**a, **b} for a in runs for b in sweep]
  return runs


def zip_(*sweeps) -> list[dict]:
  """The i-th runs of all sweeps merged; the sweeps must have the same length."""
  sweeps = [_as_sweep(s) for s in sweeps]
  if len({len(s) for s in sweeps}) > 1:
    raise ValueError(f"zip_ of sweeps of different lengths {[len(s) for s in sweeps]}")
  return [dict(itertools.chain.from_iterable(d.items() for d in runs)) for runs in zip(*sweeps)]


def seeds(n: int, start: int = 0) -> list[dict]:
  """`n` values of `seed` (init, data order, dropout); the questions (`task.seed`) stay fixed."""
  return axis("seed", range(start, start + n))


# ---------------------------------------------------------------------------------------------
# Loading a sweep and resolving its configs.

def split_config_arg(config_arg: str) -> tuple[str, str | None]:
  path, sep, arg = config_arg.partition(":")
  return path, (arg if sep else None)


def load_module(path: str):
  """The config file at `path`, run; an error in it is a UserError naming its line."""
  if not os.path.isfile(path):
    raise UserError(f"config file {path!r} does not exist")
  spec = importlib.util.spec_from_file_location(
      "s2s_config_" + re.sub(r"\W", "_", os.path.abspath(path)), path)
  module = importlib.util.module_from_spec(spec)
  if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
  try:
    spec.loader.exec_module(module)
  except Exception as e:  # pylint: disable=broad-except
    message = config_lib.describe_load_error(path, e)
    raise UserError(message or f"cannot load the config file {path!r}: "
                    f"{type(e).__name__}: {e}") from None
  return module


def load_sweep(config_arg: str, name: str) -> list[dict]:
  """The override dicts of sweep `name` in the config file of `config_arg` (`FILE[:args]`)."""
  path, _ = split_config_arg(config_arg)
  module = load_module(path)
  sweeps = getattr(module, "SWEEPS", {})
  if name not in sweeps:
    known = ", ".join(sorted(sweeps)) or "none"
    raise UserError(f"unknown sweep {name!r} in {path} (known: {known})")
  runs = _as_sweep(sweeps[name])
  if not runs:
    raise UserError(f"sweep {name!r} in {path} has no runs")
  return runs


def _format(value) -> str:
  """A value as the train CLI's `--config.<field>=` reads it."""
  return str(value)  # True/False, ints, floats ("0.001"), strings as they are.


def resolve_config(config_arg: str, overrides: dict):
  """The config a run trains with; an unknown field or a mistyped value is a UserError."""
  path, arg = split_config_arg(config_arg)
  module = load_module(path)
  if not callable(getattr(module, "get_config", None)):
    raise UserError(config_lib.no_get_config(path))
  try:
    config = module.get_config(arg) if arg is not None else module.get_config()
  except Exception as e:  # pylint: disable=broad-except
    message = config_lib.describe_load_error(path, e)
    raise UserError(message or f"{path}: get_config({arg!r}) failed: "
                    f"{type(e).__name__}: {e}") from None
  config = config_lib.returned_config(path, config)
  for field, value in overrides.items():
    *parents, leaf = field.split(".")
    node = config
    for part in parents:
      if part not in node or not hasattr(node[part], "keys"):
        raise UserError(f"unknown config field {field!r}")
      node = node[part]
    if leaf not in node or hasattr(node[leaf], "keys"):
      raise UserError(f"unknown config field {field!r}")
    old = node[leaf]
    try:
      if isinstance(old, bool) and not isinstance(value, bool):
        raise TypeError
      node[leaf] = type(old)(value) if isinstance(old, float) and isinstance(value, int) else value
    except (TypeError, ValueError):
      raise UserError(f"config field {field!r} is a {type(old).__name__}, "
                      f"got {value!r}") from None
  return config


# ---------------------------------------------------------------------------------------------
# Run names and commands.

def _short_names(fields) -> dict:
  """field -> its last component, or the whole dotted name where the last one is ambiguous."""
  leaves = [f.rsplit(".", 1)[-1] for f in fields]
  return {f: (leaf if leaves.count(leaf) == 1 else f) for f, leaf in zip(fields, leaves)}


def run_names(runs: list[dict]) -> list[str]:
  """Stable, readable directory names: `field=value` of the fields that vary, joined by `,`.

  Fields set to the same value in every run of the sweep are left out of the names, so
  `hidden_size=128,seed=1` rather than a list of every constant; the same sweep definition
  always gives the same names. Duplicate runs are an error.
  """
  fields = list(dict.fromkeys(f for run in runs for f in run))
  varying = [f for f in fields
             if len({json.dumps(run.get(f), sort_keys=True) for run in runs}) > 1]
  short = _short_names(varying)
  names = []
  for run in runs:
    parts = [f"{short[f]}={_format(run[f])}" for f in varying if f in run]
    name = re.sub(r"[^A-Za-z0-9._+=,-]", "_", ",".join(parts)) or "run"
    names.append(name)
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise UserError(f"the sweep has duplicate runs: {', '.join(duplicates[:3])}")
  return names


# Fields naming a path, made absolute: a run starts in the repository root, not in the
# directory the sweep was launched from.
PATH_FIELDS = ("init_from", "data_dir")


def train_command(config_arg: str, workdir: str, overrides: dict) -> list[str]:
  config_path, arg = split_config_arg(config_arg)
  config_flag = os.path.abspath(config_path) + (f":{arg}" if arg is not None else "")
  overrides = {k: os.path.abspath(v) if k in PATH_FIELDS and v else v
               for k, v in overrides.items()}
  return [sys.executable, "-m", "s2s.train", f"--config={config_flag}",
          f"--workdir={os.path.abspath(workdir)}",
          *(f"--config.{k}={_format(v)}" for k, v in overrides.items())]


# ---------------------------------------------------------------------------------------------
# Run states.

def is_complete(run_dir: str) -> bool:
  """The run wrote done.json: its final checkpoint and final evaluations are all on disk."""
  return workdir_lib.done_step(run_dir) is not None


def read_json(path: str, default=None):
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError):
    return default


write_json = workdir_lib.write_json


def now() -> str:
  return datetime.datetime.now().isoformat(timespec="seconds")


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


_SLURM_ACTIVE = ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD",
                 "REQUEUE_FED", "RESIZING", "SUSPENDED", "STAGE_OUT", "SIGNALING")


def slurm_job_active(job_id: str) -> bool | None:
  """True if SLURM still has the job queued or running, None if squeue cannot tell."""
  try:
    out = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T", "--states=all"],
                         capture_output=True, text=True, timeout=30)
  except (OSError, subprocess.TimeoutExpired):
    return None
  if out.returncode:
    return False if "Invalid job id" in out.stderr else None
  return any(state in _SLURM_ACTIVE for state in out.stdout.split())


def run_state(run_dir: str) -> tuple[str, str]:
  """(state, detail) of one run: pending, running, done or failed.

  done: the run wrote done.json (final checkpoint and evaluations complete) and its last
  attempt, if the launcher recorded one, exited 0. running: its launcher's process (local)
  or SLURM job is alive. failed: the last attempt exited non-zero, or died without
  finishing (its process or job is gone). pending: never started.
  """
  state = read_json(os.path.join(run_dir, STATE_FILE))
  if is_complete(run_dir) and not (state and state.get("state") == "failed"):
    return "done", ""
  if not state:
    return "pending", ""
  if state.get("state") == "failed":
    return "failed", state.get("error", "")
  if state.get("state") in ("running", "submitted"):
    if state.get("slurm_job_id"):
      active = slurm_job_active(state["slurm_job_id"])
      if active or active is None:
        return "running", f"slurm job {state['slurm_job_id']}"
      return "failed", f"slurm job {state['slurm_job_id']} ended without finishing the run"
    if state.get("host") == socket.gethostname() and _pid_alive(state.get("pid", -1)):
      return "running", f"pid {state['pid']}"
    return "failed", "interrupted (its process is gone)"
  if state.get("state") == "done":  # Exit 0 but not finished: should not happen.
    return "failed", "exited 0 without finishing (no done.json)"
  return "pending", ""


def last_error(log_path: str) -> str:
  """The `error: ...` line of a train log, else its last non-empty line."""
  try:
    with open(log_path, errors="replace") as f:
      lines = [l.strip() for l in f if l.strip()]
  except OSError:
    return ""
  errors = [l for l in lines if l.startswith("error: ")]
  return (errors or lines or [""])[-1][:300]


def execute(command: list[str], run_dir: str, env=None, **state_extra) -> int:
  """Runs a train command with its output in run_dir/train.log and its state recorded."""
  os.makedirs(run_dir, exist_ok=True)
  state_path = os.path.join(run_dir, STATE_FILE)
  base = {"command": command, "host": socket.gethostname(), **state_extra}
  with open(os.path.join(run_dir, LOG_FILE), "a") as log:
    log.write(f"\n[{now()}] {' '.join(command)}\n")
    log.flush()
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               env=env, stdin=subprocess.DEVNULL)
    write_json(state_path, {**base, "state": "running", "pid": process.pid, "started": now()})
    returncode = process.wait()
  if returncode == 0 and is_complete(run_dir):
    write_json(state_path, {**base, "state": "done", "returncode": 0, "finished": now()})
  else:
    error = last_error(os.path.join(run_dir, LOG_FILE)) if returncode else (
        "exited 0 without finishing (no done.json)")
    if returncode < 0:
      error = f"killed by signal {-returncode}"
    write_json(state_path, {**base, "state": "failed", "returncode": returncode,
                            "error": error, "finished": now()})
  return returncode


class SlurmTask:
  """What one SLURM array task runs: the train command of one run (picklable for submitit)."""

  def __init__(self, command, run_dir):
    self.command, self.run_dir = command, run_dir

  def __call__(self):
    rank = int(os.environ.get("SLURM_PROCID", "0"))
    if rank:  # A run of several tasks: one train process each; task 0 alone keeps the records.
      os.makedirs(self.run_dir, exist_ok=True)
      with open(os.path.join(self.run_dir, f"train.task{rank}.log"), "a") as log:
        returncode = subprocess.call(self.command, cwd=ROOT, stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
      if returncode:
        raise RuntimeError(f"{os.path.basename(self.run_dir)} task {rank}: exit {returncode}")
      return os.path.basename(self.run_dir)
    job_id = os.environ.get("SLURM_ARRAY_JOB_ID")
    task_id = os.environ.get("SLURM_ARRAY_TASK_ID")
    slurm_id = f"{job_id}_{task_id}" if job_id and task_id else os.environ.get("SLURM_JOB_ID")
    returncode = execute(self.command, self.run_dir, slurm_job_id=slurm_id)
    if returncode:
      state = read_json(os.path.join(self.run_dir, STATE_FILE), {})
      raise RuntimeError(f"{os.path.basename(self.run_dir)}: exit {returncode}: "
                         f"{state.get('error', '')}")
    return os.path.basename(self.run_dir)

  def checkpoint(self):
    """On a SLURM timeout or preemption submitit requeues the task; training resumes."""
    import submitit  # pylint: disable=import-outside-toplevel
    return submitit.helpers.DelayedSubmission(SlurmTask(self.command, self.run_dir))


# ---------------------------------------------------------------------------------------------
# A sweep directory.

def read_sweep_dir(sweep_dir: str) -> list[dict]:
  """[{name, dir, overrides}] of the runs in a sweep dir (from sweep.json, else its subdirs)."""
  if not os.path.isdir(sweep_dir):
    raise UserError(f"sweep directory {sweep_dir!r} does not exist")
  info = read_json(os.path.join(sweep_dir, SWEEP_FILE))
  if info:
    return [{"name": r["name"], "dir": os.path.join(sweep_dir, r["name"]),
             "overrides": r["overrides"]} for r in info["runs"]]
  runs = []
  for name in sorted(os.listdir(sweep_dir)):
    path = os.path.join(sweep_dir, name)
    if os.path.isfile(os.path.join(path, "config.json")):
      runs.append({"name": name, "dir": path, "overrides": None})
  return runs
