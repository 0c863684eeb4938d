"""Orbax checkpoints of the train state and the data iterator's position.

A checkpoint `checkpoints/<step>/` holds `state` (params, optimizer state, step,
dropout key) and `data` (the grain iterator state as JSON). Together they make a
resumed run continue exactly where the saved one was.
"""

import os

import jax
import orbax.checkpoint as ocp

from s2s.errors import UserError

CHECKPOINT_DIR = "checkpoints"


class Checkpoints:

  def __init__(self, workdir: str, max_to_keep: int = 2):
    self.manager = ocp.CheckpointManager(
        os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR)),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

  def latest_step(self):
    return self.manager.latest_step()

  def save(self, step: int, state, data_iterator):
    # Copy to host now: the device buffers are donated to the next train step.
    state = jax.device_get(state)
    self.manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_iterator.get_state())))

  def restore(self, step: int, state_template, data_iterator):
    restored = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(state_template), data=ocp.args.JsonRestore()))
    data_iterator.set_state(restored["data"])
    return restored["state"]

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()


def restore_params(workdir: str):
  """The params of the latest checkpoint in `workdir` (for prediction)."""
  directory = os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR))
  if not os.path.isdir(directory):
    raise UserError(f"workdir {workdir!r} has no checkpoints (train a model there first)")
  manager = ocp.CheckpointManager(directory)
  step = manager.latest_step()
  if step is None:
    raise UserError(f"workdir {workdir!r} has no finished checkpoint (train a model there first)")
  restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
  manager.close()
  return restored["state"]["params"], step
