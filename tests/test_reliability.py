"""What a run promises when things go wrong: done means done, damaged checkpoints are skipped,
a non-finite loss stops the run, full or read-only disks and second trainers are refused,
torn files are repaired, and Ctrl-C / SIGTERM stop with one line. Each as a user meets it."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from conftest import (REFERENCE, ROOT, TINY, assert_user_error, command_env, popen, read_metrics,
                      run, run_cli, train_cli)
from s2s import checkpoints
from s2s import reporting
from s2s import sweeps
from s2s import workdir as workdir_lib

# 60 steps, checkpoints at 20, 40 and 60 (two kept): conftest's shared reference run.
STEPS = REFERENCE


def params_of(workdir):
  params, step = checkpoints.restore_params(str(workdir))
  return step, jax.tree.map(np.asarray, params)


def assert_same_params(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_array_equal(x, y)


def without_time(events):
  return [{k: v for k, v in e.items() if k != "elapsed_s"} for e in events]


@pytest.fixture
def reference(reference_run):
  """A finished 60-step run, never interrupted (shared: tests copy it before changing it)."""
  return reference_run


def start_training(workdir, data_dir, *extra):
  command = [sys.executable, "-m", "s2s.train", *TINY, f"--workdir={workdir}",
             f"--config.data_dir={data_dir}", *extra]
  env = command_env()
  return popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               text=True)


def wait_for(path, process, timeout=300):
  deadline = time.time() + timeout
  while not os.path.exists(path):
    assert process.poll() is None, process.communicate()
    assert time.time() < deadline, f"{path} never appeared"
    time.sleep(0.05)


def error_lines(stderr):
  return [l for l in stderr.splitlines() if l.startswith("error: ")]


# 1. Done means done ---------------------------------------------------------------------------

def test_a_run_is_done_only_when_its_final_checkpoint_and_evaluations_are(reference, tmp_path):
  assert workdir_lib.done_step(reference) == 60
  assert params_of(reference)[0] == 60  # predict serves the final step.
  assert sweeps.run_state(str(reference)) == ("done", "")

  # A kill after the test event but before the final checkpoint was whole (what a background
  # save allowed before): the run is not done, and rerunning it finishes it.
  run = tmp_path / "run"
  shutil.copytree(reference, run)
  shutil.rmtree(run / "checkpoints" / "60")
  (run / "done.json").unlink()
  assert any(e["split"] == "test" for e in read_metrics(run))
  assert sweeps.run_state(str(run))[0] != "done"

  # A run whose last attempt exited non-zero is not done either, whatever it wrote.
  shutil.copytree(reference, tmp_path / "failed")
  sweeps.write_json(str(tmp_path / "failed" / sweeps.STATE_FILE),
                    {"state": "failed", "returncode": 1, "error": "error: boom"})
  assert sweeps.run_state(str(tmp_path / "failed")) == ("failed", "error: boom")


def test_a_run_killed_during_its_final_evaluation_is_finished_by_a_rerun(reference, tmp_path,
                                                                          data_dir):
  """The final checkpoint is on disk before the test split is scored; done.json comes last."""
  workdir = tmp_path / "run"
  # A real run whose scoring of the test split is interrupted (Ctrl-C at that moment).
  args = [*TINY, f"--workdir={workdir}", f"--config.data_dir={data_dir}", *STEPS]
  code = ("import sys; from s2s import cli, reporting, train\n"
          "real = reporting.Reporter.write\n"
          "def write(self, split, step, metrics, slices=None):\n"
          "  if split == 'test': raise KeyboardInterrupt\n"
          "  return real(self, split, step, metrics, slices)\n"
          "reporting.Reporter.write = write\n"
          "train.define_flags()\n"
          "from absl import app\n"
          "sys.argv = ['s2s.train'] + sys.argv[1:]\n"
          "app.run(train.main, flags_parser=cli.parse_flags)\n")
  env = command_env()
  result = run([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
  assert result.returncode == 130, result.stderr
  assert "Traceback" not in result.stderr
  assert error_lines(result.stderr)[-1].startswith("error: stopped by SIGINT at step 60")
  assert params_of(workdir)[0] == 60  # The final checkpoint was whole before the test split.
  assert workdir_lib.done_step(workdir) is None
  assert sweeps.run_state(str(workdir))[0] != "done"

  result = train_cli(workdir, data_dir, *STEPS)
  assert result.returncode == 0, result.stderr
  assert workdir_lib.done_step(workdir) == 60
  assert without_time(read_metrics(workdir)) == without_time(read_metrics(reference))


# 2. Damaged checkpoints -----------------------------------------------------------------------

def state_files(checkpoint):
  return [os.path.join(d, f) for d, _, fs in os.walk(checkpoint / "state") for f in fs]


def flip_bytes(path):
  data = bytearray(open(path, "rb").read())
  for i in range(len(data) // 2, min(len(data), len(data) // 2 + 8)):
    data[i] ^= 0xFF
  open(path, "wb").write(bytes(data))


def truncate(path):
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)


def damage(checkpoint, how):
  """Damages a checkpoint as a failing disk or a careless hand would."""
  if how == "alter":  # Readable, but the data position is not the one saved: silent before.
    path = checkpoint / "data" / "metadata"
    path.write_text(path.read_text().replace("60", "61").replace("40", "41"))
    return
  for path in state_files(checkpoint):
    {"delete": os.remove, "truncate": truncate, "flip": flip_bytes}[how](path)


@pytest.mark.parametrize("how", ["delete", "truncate", "flip", "alter"])
def test_predict_skips_a_damaged_newest_checkpoint(reference, tmp_path, how, capsys):
  run = tmp_path / "run"
  shutil.copytree(reference, run)
  damage(run / "checkpoints" / "60", how)
  step, params = params_of(run)
  assert step == 40
  warnings = [l for l in capsys.readouterr().err.splitlines() if l.startswith("warning: ")]
  assert len(warnings) == 1 and "checkpoints/60 is damaged" in warnings[0], warnings
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(params))


def test_training_resumes_exactly_from_the_newest_whole_checkpoint(reference, tmp_path,
                                                                    data_dir):
  run = tmp_path / "run"
  shutil.copytree(reference, run)
  (run / "done.json").unlink()
  damage(run / "checkpoints" / "60", "alter")
  result = train_cli(run, data_dir, *STEPS)
  assert result.returncode == 0, result.stderr
  assert "resuming at step 40" in result.stdout
  warnings = [l for l in result.stderr.splitlines() if l.startswith("warning: ")]
  assert len(warnings) == 1 and "checkpoints/60 is damaged" in warnings[0], result.stderr
  assert os.listdir(run / "damaged_checkpoints")[0].startswith("60.")  # Kept, set aside.
  assert_same_params(params_of(run)[1], params_of(reference)[1])


def test_no_whole_checkpoint_is_one_line(reference, tmp_path, data_dir):
  run = tmp_path / "run"
  shutil.copytree(reference, run)
  (run / "done.json").unlink()
  damage(run / "checkpoints" / "40", "flip")
  damage(run / "checkpoints" / "60", "truncate")
  result = run_cli("s2s.predict", [f"--workdir={run}", "1+2"])
  assert_user_error(result, "no checkpoint", "is whole")
  result = train_cli(run, data_dir, *STEPS)
  assert_user_error(result, "no checkpoint", "is whole", "new --workdir")


# 3. Non-finite loss ---------------------------------------------------------------------------

def test_a_non_finite_loss_stops_the_run_and_keeps_the_good_checkpoint(tmp_path, data_dir,
                                                                       run_20_steps):
  workdir = tmp_path / "run"
  shutil.copytree(run_20_steps, workdir)  # A 20-step run: one checkpoint, at step 20.
  assert sorted(os.listdir(workdir / "checkpoints")) == ["20"]
  good = params_of(workdir)[1]
  # A learning rate that blows the parameters up within a step or two.
  result = train_cli(workdir, data_dir, "--config.num_steps=200",
                     "--config.checkpoint_every_steps=20", "--config.learning_rate=3e38",
                     "--allow_config_change")
  assert result.returncode == 1, result.stdout
  assert "Traceback" not in result.stderr
  lines = error_lines(result.stderr)
  assert len(lines) == 1 and "non-finite at step 2" in lines[0], result.stderr
  assert "last checkpoint: 20" in lines[0]
  # Nothing non-finite was saved or logged; the good checkpoint is still the newest.
  assert sorted(os.listdir(workdir / "checkpoints")) == ["20"]
  assert_same_params(params_of(workdir)[1], good)
  assert all(np.isfinite(e["loss"]) for e in read_metrics(workdir))
  assert workdir_lib.done_step(workdir) is None


def test_a_non_finite_state_is_never_saved(tmp_path):
  class Data:
    def get_state(self):
      return {"position": 1}
  ckpt = checkpoints.Checkpoints(str(tmp_path), 2)
  with pytest.raises(checkpoints.RunFailed, match="non-finite by step 5"):
    ckpt.save(5, {"w": np.array([1.0, np.nan], np.float32)}, Data())
  ckpt.close()
  assert not os.listdir(tmp_path / "checkpoints")


# 4. Paths and disks ---------------------------------------------------------------------------

@contextlib.contextmanager
def mounted(kind, path, source=None, size="4m"):
  """A tmpfs of `size`, or a read-only bind of `source`, at `path`; skips where mount is not
  permitted (it is as root, as on CI)."""
  os.makedirs(path, exist_ok=True)
  args = (["-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)] if kind == "tmpfs" else
          ["-o", "bind,ro", str(source), str(path)])
  result = subprocess.run(["mount", *args], capture_output=True, text=True)
  if result.returncode:
    pytest.skip(f"cannot mount here: {result.stderr.strip()}")
  if kind == "ro":  # Older kernels ignore ro on the first bind.
    subprocess.run(["mount", "-o", "remount,bind,ro", str(path)], check=True)
  try:
    yield path
  finally:
    subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.mark.parametrize("where", ["under_a_file", "proc", "read_only"])
def test_unusable_workdirs_are_one_line_and_nothing_is_written(tmp_path, data_dir, where):
  if where == "under_a_file":
    (tmp_path / "file").write_text("x")
    workdir, context = tmp_path / "file" / "run", contextlib.nullcontext()
  elif where == "proc":
    workdir, context = "/proc/s2s_run", contextlib.nullcontext()
  else:
    (tmp_path / "source").mkdir()
    workdir, context = tmp_path / "ro" / "run", mounted("ro", tmp_path / "ro", tmp_path / "source")
  with context:
    result = train_cli(workdir, data_dir)
    assert_user_error(result, "--workdir")
    assert result.returncode == 2
  assert not os.path.exists(workdir)
  if where == "read_only":
    assert not os.listdir(tmp_path / "source")


def test_a_full_disk_stops_the_run_at_once_and_a_resume_is_exact(reference, tmp_path,
                                                                 data_dir):
  disk = tmp_path / "disk"
  with mounted("tmpfs", disk, size="8m"):
    # Too small for the run's checkpoints from the start: refused before training.
    (disk / "filler").write_bytes(b"\0" * (8 * 2**20 - 64 * 1024))
    result = train_cli(disk / "early", data_dir, *STEPS)
    assert_user_error(result, "MB free")
    assert not os.path.exists(disk / "early" / "config.json.tmp")
    os.remove(disk / "filler")
    shutil.rmtree(disk / "early")

    # Fills up while training: the next boundary stops the run with one line.
    workdir = disk / "run"
    process = start_training(workdir, data_dir, *STEPS)
    wait_for(workdir / "checkpoints" / "20", process)
    # Unbuffered: a buffered file would keep the last chunk that did not fit and raise again
    # when closed.
    with open(disk / "filler", "wb", buffering=0) as f:
      with contextlib.suppress(OSError):
        while True:
          f.write(b"\0" * 65536)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1, stdout + stderr
    assert "Traceback" not in stderr, stderr
    lines = error_lines(stderr)
    assert len(lines) == 1 and "No space left on device" in lines[0], stderr
    assert workdir_lib.done_step(workdir) is None
    # Space freed: the resume continues from the newest whole checkpoint, exactly.
    os.remove(disk / "filler")
    result = train_cli(workdir, data_dir, *STEPS)
    assert result.returncode == 0, result.stderr
    assert_same_params(params_of(workdir)[1], params_of(reference)[1])
    assert without_time(read_metrics(workdir)) == without_time(read_metrics(reference))


# 5. One trainer per workdir --------------------------------------------------------------------

def test_a_second_trainer_in_the_same_workdir_is_refused(tmp_path, data_dir):
  workdir = tmp_path / "run"
  first = start_training(workdir, data_dir, "--config.num_steps=100000",
                         "--config.num_samples=0")
  try:
    wait_for(workdir / "metrics.jsonl", first)
    result = train_cli(workdir, data_dir, "--config.num_steps=100000", "--config.num_samples=0")
    assert_user_error(result, "is in use by", f"pid {first.pid}")
    assert result.returncode == 2
  finally:
    first.send_signal(signal.SIGKILL)
    first.wait()
  # The lock of a killed trainer is not stale: the kernel released it.
  with workdir_lib.Lock(str(workdir)):
    pass


# 6. Torn files --------------------------------------------------------------------------------

def test_a_torn_metrics_line_is_dropped_on_resume(reference, tmp_path, data_dir):
  run = tmp_path / "run"
  shutil.copytree(reference, run)
  # Killed while writing an event after checkpoint 40: checkpoint 60 never finished.
  shutil.rmtree(run / "checkpoints" / "60")
  (run / "done.json").unlink()
  events = read_metrics(run)
  kept = [e for e in events if e["step"] <= 50]
  with open(run / "metrics.jsonl", "w") as f:
    f.writelines(json.dumps(e) + "\n" for e in kept)
    f.write('{"step": 60, "epoch": 1.07, "spl')
  assert reporting.read_metrics(str(run)) == kept  # Readers skip the torn line.
  assert sweeps.run_state(str(run))[0] != "done"
  result = train_cli(run, data_dir, *STEPS)
  assert result.returncode == 0, result.stderr
  assert without_time(read_metrics(run)) == without_time(events)


def test_a_damaged_metrics_line_or_config_is_one_line(reference, tmp_path, data_dir):
  run = tmp_path / "run"
  shutil.copytree(reference, run)
  lines = (run / "metrics.jsonl").read_text().splitlines(keepends=True)
  (run / "metrics.jsonl").write_text("".join(lines[:1] + ["{oops\n"] + lines[1:]))
  assert_user_error(train_cli(run, data_dir, *STEPS), "metrics.jsonl line 2")
  shutil.rmtree(run)
  shutil.copytree(reference, run)
  (run / "config.json").write_text('{"seed": 0,')
  assert_user_error(train_cli(run, data_dir, *STEPS), "config.json", "not valid JSON")
  assert_user_error(run_cli("s2s.predict", [f"--workdir={run}", "1+2"]), "config.json",
                    "not valid JSON")


# 7. Ctrl-C and SIGTERM -------------------------------------------------------------------------

@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_is_one_line_naming_a_whole_checkpoint(tmp_path, data_dir, sig, code):
  workdir = tmp_path / "run"
  extra = ["--config.num_steps=100000", "--config.checkpoint_every_steps=20",
           "--config.num_samples=0"]
  process = start_training(workdir, data_dir, *extra)
  wait_for(workdir / "checkpoints" / "40", process)
  process.send_signal(sig)
  stdout, stderr = process.communicate(timeout=120)
  assert process.returncode == code, stderr
  assert "Traceback" not in stderr, stderr
  lines = error_lines(stderr)
  assert len(lines) == 1, stderr
  assert f"stopped by {sig.name} at step" in lines[0]
  resumed = int(lines[0].split("resume from checkpoint ")[1])
  assert resumed >= 40 and resumed % 20 == 0
  assert params_of(workdir)[0] == resumed  # The newest whole checkpoint: a rerun starts there.


def test_a_signal_landing_where_python_cannot_raise_stops_at_the_next_step():
  # A signal handled inside a destructor or a garbage-collector callback (as JAX's) cannot raise
  # there: Python would print "Exception ignored ... Traceback". It must stay quiet, and the
  # stop must still come, from check_stop between steps.
  program = """
import os, signal, sys
from s2s import cli
cli.stop_on_sigterm()
class Collected:
  def __del__(self):
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(1000): pass  # The handler runs here, inside __del__.
Collected()
print("still running")
try:
  cli.check_stop()
except KeyboardInterrupt as e:
  print("stopped by", e)
"""
  result = run([sys.executable, "-c", program], capture_output=True, text=True,
                          timeout=60)
  assert result.stdout.split("\n")[:2] == ["still running", "stopped by SIGINT"], result
  assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result
