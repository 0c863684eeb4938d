"""Orbax checkpoints of the train state and the data iterator's position, each with its digest.

A checkpoint `checkpoints/<step>/` holds `state` (params, optimizer state, step, dropout
key), `data` (the grain iterator state as JSON) and `integrity` (a sha256 digest of both,
computed from the values being saved). The three are written in one orbax save, which
becomes visible only once all of it is on disk, so a checkpoint never exists without its
digest. Restoring recomputes the digest from the values read back: a deleted, truncated or
altered file either fails to load or changes the digest, and that checkpoint is skipped for
the newest older one that is whole.
"""

import hashlib
import json
import logging
import os
import re
import sys
import time

import jax
import numpy as np
import orbax.checkpoint as ocp

from s2s.errors import RunFailed, UserError

CHECKPOINT_DIR = "checkpoints"
DAMAGED_DIR = "damaged_checkpoints"  # Where training moves checkpoints that fail their check.


def digest(state, data_state) -> str:
  """sha256 over every array of `state` (dtype, shape, bytes) and the iterator state.

  Independent of the containers holding the arrays (a TrainState when training, the plain
  dicts orbax returns without a template when predicting): the arrays' digests are sorted.
  """
  leaves = []
  for leaf in jax.tree.leaves(state):
    a = np.asarray(leaf)
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(np.ascontiguousarray(a).tobytes())
    leaves.append(h.hexdigest())
  h = hashlib.sha256("".join(sorted(leaves)).encode())
  h.update(json.dumps(data_state, sort_keys=True).encode())
  return h.hexdigest()


def all_finite(state) -> bool:
  return all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(state)
             if np.issubdtype(np.asarray(leaf).dtype, np.inexact))


def _warn(text):
  print(f"warning: {text}", file=sys.stderr, flush=True)


def _problem(e: BaseException) -> str:
  text = " ".join(str(e).split()) or type(e).__name__
  return text if len(text) <= 160 else text[:157] + "..."


def report_failures_once():
  """Leaves reporting a failed save or restore to s2s (one line, from `Checkpoints`).

  Orbax logs each failure of its background threads with a traceback, and tensorstore's
  callbacks into the event loop orbax has closed after a failure print "Event loop is
  closed" tracebacks; both say again, in 40 lines, what the one line says.
  """
  class DropOrbaxErrors(logging.Filter):
    def filter(self, record):
      return not (record.levelno >= logging.ERROR and f"{os.sep}orbax{os.sep}" in record.pathname)

  class DropOrbaxTasks(logging.Filter):  # "Task exception was never retrieved" of orbax's.
    def filter(self, record):
      return not (record.levelno >= logging.ERROR and "orbax" in record.getMessage())

  logging.getLogger("absl").addFilter(DropOrbaxErrors())
  logging.getLogger("asyncio").addFilter(DropOrbaxTasks())
  default_hook = sys.unraisablehook

  def hook(unraisable):
    if not (isinstance(unraisable.exc_value, RuntimeError)
            and str(unraisable.exc_value) == "Event loop is closed"):
      default_hook(unraisable)

  sys.unraisablehook = hook


class Checkpoints:
  """The checkpoints of one workdir: saved in the background, restored only when whole.

  A failed background save is raised by the next `check()` (called at every boundary of
  the train loop), by the next `save()`, or by `wait()`.
  """

  def __init__(self, workdir: str, max_to_keep: int = 2):
    self.workdir = workdir
    self.directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
    self.manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                             cleanup_tmp_directories=True))
    self.saving = None  # The step being written in the background.

  def save(self, step: int, state, data_iterator):
    """Starts writing `state` (host or device arrays) at `step`; a non-finite state is refused."""
    self.check()
    state = jax.device_get(state)  # To host now: the device buffers are donated next step.
    if not all_finite(state):
      raise RunFailed(f"the parameters or optimizer state became non-finite by step {step}; "
                      f"not saving them over checkpoint {self.manager.latest_step()}")
    data = data_iterator.get_state()
    self.saving = step
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data),
        integrity=ocp.args.JsonSave({"step": step, "sha256": digest(state, data)})))

  def check(self):
    """Raises a failed background save as one line (a RunFailed naming its step)."""
    try:
      self.manager.check_for_errors()
      if self.saving is not None and not self.manager.is_saving_in_progress():
        self.manager.wait_until_finished()
        self.saving = None
    except Exception as e:  # pylint: disable=broad-except
      raise self._save_failed(e) from None

  def wait(self):
    """Blocks until the save in flight is on disk; raises if it failed."""
    try:
      self.manager.wait_until_finished()
    except Exception as e:  # pylint: disable=broad-except
      raise self._save_failed(e) from None
    self.saving = None

  def _save_failed(self, e):
    cause = e
    while cause is not None and not isinstance(cause, OSError):
      cause = cause.__cause__ or cause.__context__
    code = re.search(r"os_error_code='(\d+)'", str(e))  # Tensorstore's form of an OSError.
    if isinstance(cause, OSError) and cause.strerror:
      reason = cause.strerror + (f" ({cause.filename})" if cause.filename else "")
    elif code:
      reason = os.strerror(int(code.group(1)))
    else:
      reason = _problem(e)
    return RunFailed(f"saving checkpoint {self.saving} in {self.directory} failed: {reason}")

  def restore_latest(self, state_template, data_iterator):
    """(step, state) of the newest whole checkpoint, the iterator set to its position;
    (0, state_template) when there is none. Damaged checkpoints are moved to
    `damaged_checkpoints/` with a warning; if every checkpoint is damaged, a UserError."""
    steps = sorted(self.manager.all_steps(), reverse=True)
    for step in steps:
      restored, problem = _restore(self.manager, step, state_template)
      if problem is None:
        data_iterator.set_state(restored["data"])
        return step, restored["state"]
      moved = self._set_aside(step)
      _warn(f"checkpoint {os.path.join(self.directory, str(step))} is damaged ({problem}); "
            f"moved to {moved}, resuming from an older one")
    if steps:
      raise UserError(f"no checkpoint in {self.directory} is whole (all {len(steps)} are "
                      f"damaged, moved to {os.path.join(self.workdir, DAMAGED_DIR)}); "
                      f"use a new --workdir to train from scratch")
    return 0, state_template

  def _set_aside(self, step: int) -> str:
    target = os.path.join(self.workdir, DAMAGED_DIR, f"{step}.{int(time.time())}")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.replace(os.path.join(self.directory, str(step)), target)
    self.manager.reload()
    return target

  def steps_on_disk(self) -> list[int]:
    """The steps whose checkpoint directories are finalized now (orbax writes each under a
    temporary name and renames it when whole), oldest first."""
    try:
      names = os.listdir(self.directory)
    except OSError:
      return []
    return sorted(int(n) for n in names if n.isdigit())

  def close(self, raise_errors: bool = True):
    """Waits for the save in flight (its failure raised, unless `raise_errors` is False, as
    when the run is already stopping for another reason) and releases orbax's threads."""
    try:
      self.wait()
      self.manager.close()
    except Exception:  # pylint: disable=broad-except
      if raise_errors:
        raise


def _restore(manager, step: int, state_template):
  """(restored items, None), or (None, why step's checkpoint cannot be trusted)."""
  path = os.path.join(str(manager.directory), str(step))
  has_digest = os.path.isdir(os.path.join(path, "integrity"))
  items = dict(state=ocp.args.StandardRestore(state_template), data=ocp.args.JsonRestore())
  if has_digest:
    items["integrity"] = ocp.args.JsonRestore()
  try:
    restored = manager.restore(step, args=ocp.args.Composite(**items))
  except Exception as e:  # pylint: disable=broad-except
    return None, f"cannot be read: {_problem(e)}"
  if not has_digest:  # Written before checkpoints carried a digest: trusted as orbax read it.
    _warn(f"checkpoint {path} has no integrity digest (an older s2s wrote it); not verified")
    return restored, None
  expected = restored["integrity"].get("sha256")
  if digest(restored["state"], restored["data"]) != expected:
    return None, "its contents do not match the digest written with it"
  return restored, None


def restore_params(workdir: str):
  """(params, step) of the newest whole checkpoint in `workdir`, for prediction.

  Damaged checkpoints are skipped with a warning, and left where they are."""
  directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
  if not os.path.isdir(directory):
    raise UserError(f"workdir {workdir!r} has no checkpoints (train a model there first)")
  manager = ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(create=False))
  try:
    steps = sorted(manager.all_steps(), reverse=True)
    for step in steps:
      restored, problem = _restore(manager, step, None)
      if problem is None:
        return restored["state"]["params"], step
      _warn(f"checkpoint {os.path.join(directory, str(step))} is damaged ({problem}); "
            f"trying an older one")
  finally:
    manager.close()
  if steps:
    raise UserError(f"no checkpoint in {directory} is whole (all {len(steps)} are damaged)")
  raise UserError(f"workdir {workdir!r} has no finished checkpoint (train a model there first)")
