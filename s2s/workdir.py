"""A run's directory: what it holds, and the rules for touching it.

  config.json     the run's config; a run with a different one is refused
  lock            pid and host of the trainer using the directory (one at a time)
  metrics.jsonl   every logged event (s2s.reporting)
  checkpoints/    train state and data position, with digests (s2s.checkpoints)
  done.json       written last: the final checkpoint and every final evaluation are on disk

Every file other than metrics.jsonl is written to a temporary name and renamed, so a kill
or a full disk never leaves half of one behind.
"""

import fcntl
import json
import os
import socket
import time

from s2s.errors import UserError

CONFIG_FILE = "config.json"
LOCK_FILE = "lock"
DONE_FILE = "done.json"


def write_json(path: str, value):
  """Writes `value` to `path` atomically: the old file or the new one, never a part."""
  tmp = f"{path}.{os.getpid()}.tmp"
  try:
    with open(tmp, "w") as f:
      json.dump(value, f, indent=2)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise


def read_json(path: str, what: str = ""):
  """The JSON in `path`; a file that is not JSON is a UserError naming it."""
  with open(path) as f:
    text = f.read()
  try:
    return json.loads(text)
  except ValueError as e:
    raise UserError(f"{what or path} is not valid JSON ({e.msg} at line {e.lineno}); "
                    f"restore or remove it") from None


def make(workdir: str):
  """Creates the workdir; a path that cannot be a directory is a UserError."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise UserError(f"--workdir {workdir!r} exists and is not a directory")
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise UserError(f"cannot create --workdir {workdir!r}: {e.strerror}") from None


class Lock:
  """An exclusive lock on a workdir (flock: released by the kernel when its process dies,
  so a lock left by a killed run is never stale). The file names the holder."""

  def __init__(self, workdir: str):
    path = os.path.join(workdir, LOCK_FILE)
    try:
      self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise UserError(f"cannot use --workdir {workdir!r}: {e.strerror}") from None
    try:
      fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(self.fd, 4096, 0).decode(errors="replace").strip() or "another process"
      os.close(self.fd)
      raise UserError(f"workdir {workdir!r} is in use by {holder}; wait for that run to end "
                      f"or use another --workdir") from None
    owner = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
    try:
      os.ftruncate(self.fd, 0)
      os.pwrite(self.fd, (owner + "\n").encode(), 0)
    except OSError as e:
      self.release()
      raise UserError(f"cannot write to --workdir {workdir!r}: {e.strerror}") from None

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.release()

  def release(self):
    if self.fd is not None:
      os.close(self.fd)  # Closing drops the flock.
      self.fd = None


def has_results(workdir: str) -> bool:
  from s2s import checkpoints, reporting  # pylint: disable=import-outside-toplevel
  return any(os.path.exists(os.path.join(workdir, name))
             for name in (checkpoints.CHECKPOINT_DIR, reporting.METRICS_FILE))


def with_added_defaults(old: dict, new: dict, defaults: dict) -> dict:
  """`old` (a run's config.json, nested) plus each field it lacks that `new` sets to its value in
  `defaults`: a field added to s2s after the run started (model.ctc_weight, say) that this run
  leaves at its neutral default changes nothing the run did."""
  out = dict(old)
  for key, value in new.items():
    if key not in old:
      if key in defaults and defaults[key] == value:
        out[key] = value
    elif isinstance(old[key], dict) and isinstance(value, dict):
      out[key] = with_added_defaults(old[key], value, defaults.get(key) or {})
  return out


def write_config(workdir: str, new: dict, allow_config_change: bool, defaults: dict = None):
  """Writes config.json, or checks that the run already there has the same config. Fields
  absent from the old config.json that `new` leaves at their `defaults` (base_config's, nested
  as `new`) count as the same; the file is then rewritten with them."""
  path = os.path.join(workdir, CONFIG_FILE)
  if os.path.exists(path) and has_results(workdir):  # A config alone (never started) may go.
    saved = read_json(path, f"{path}")
    old = with_added_defaults(saved, new, defaults or {})
    if old != new:
      changed = ", ".join(_diff(old, new)[:5])
      if not allow_config_change:
        raise UserError(
            f"workdir {workdir!r} holds a run with a different config ({changed}); use another "
            f"--workdir, or pass --allow_config_change to continue that run with the new config")
      os.replace(path, os.path.join(workdir, "config.previous.json"))
    elif saved == new:
      return
  write_json(path, new)


def read_config(workdir: str) -> dict:
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise UserError(f"workdir {workdir!r} holds no {CONFIG_FILE}: train a model there first")
  return read_json(path)


def _diff(old, new, prefix=""):
  out = []
  for key in sorted(set(old) | set(new)):
    a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
    if isinstance(a, dict) and isinstance(b, dict):
      out += _diff(a, b, f"{prefix}{key}.")
    elif a != b:
      out.append(f"{prefix}{key}: {a!r} -> {b!r}")
  return out


def mark_done(workdir: str, step: int):
  write_json(os.path.join(workdir, DONE_FILE),
             {"step": step, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})


def done_step(workdir: str):
  """The step a finished run ended at, or None if it has not finished."""
  try:
    with open(os.path.join(workdir, DONE_FILE)) as f:
      return json.load(f)["step"]
  except (OSError, ValueError, KeyError, TypeError):
    return None


def clear_done(workdir: str):
  """A run that trains on (a longer budget, a resumed damaged run) is not finished."""
  path = os.path.join(workdir, DONE_FILE)
  if os.path.exists(path):
    os.remove(path)
