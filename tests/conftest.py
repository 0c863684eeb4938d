"""Shared fixtures: one TFDS data dir per session, and runners for the CLIs."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A small, fast run: 2-digit addition, a small LSTM, few steps.
TINY = ["--config=configs/addition.py:digits=2,num_examples=1000,epochs=1",
        "--config.model.hidden_size=16", "--config.batch_size=16",
        "--config.eval_batch_size=100", "--config.log_every_steps=10",
        "--config.task.check_small_operands=False"]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  return str(tmp_path_factory.mktemp("tfds"))


def run_cli(module, args, env=None, stdin=None, timeout=600):
  """Runs `python -m module args` from the repository root; returns the CompletedProcess."""
  full_env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # 1 device unless asked.
  full_env.update(env or {})
  return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=full_env,
                        input=stdin, capture_output=True, text=True, timeout=timeout)


def train_cli(workdir, data_dir, *extra, env=None):
  return run_cli("s2s.train", [*TINY, f"--workdir={workdir}", f"--config.data_dir={data_dir}",
                               *extra], env=env)


def read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def assert_user_error(result, *words):
  """A failed CLI call that printed one clear `error:` line naming `words`, no traceback."""
  assert result.returncode != 0, result.stdout
  assert "Traceback" not in result.stderr, result.stderr
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert lines and lines[-1].startswith("error: "), result.stderr
  for word in words:
    assert word in lines[-1], lines[-1]


# Speech synthesis (scripts/install_system_data.sh installs both); tests that speak skip without.
needs_voices = pytest.mark.skipif(
    not (shutil.which("flite") and shutil.which("espeak-ng")),
    reason="flite and espeak-ng are not installed (sudo scripts/install_system_data.sh)")


def check_predict_files(workdir, files, plots, alphabet):
  """s2s.predict on `files`, greedy and with a beam of 2, plotting attention into `plots`: a
  line per file, in order, each prediction written in `alphabet`, and a plot per file."""
  for beam in ("1", "2"):
    result = run_cli("s2s.predict", [f"--workdir={workdir}", f"--beam={beam}",
                                     f"--plot_attention={plots}", *files])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [l.split("\t")[0] for l in lines] == files
    assert all(set(l.split("\t")[1]) <= set(alphabet) for l in lines), lines
  assert sorted(os.listdir(plots)) == [f"query_{i + 1}.png" for i in range(len(files))]


def check_predict_refuses_bad_files(workdir, directory, suffix):
  """s2s.predict on a text file named *`suffix` and on a missing file: one-line errors."""
  bad = directory / f"notes{suffix}"
  bad.write_text("not what the name says")
  assert_user_error(run_cli("s2s.predict", [f"--workdir={workdir}", str(bad)]), bad.name)
  missing = directory / f"no{suffix}"
  assert_user_error(run_cli("s2s.predict", [f"--workdir={workdir}", str(missing)]),
                    missing.name)


def load_config(name, arg=""):
  """configs/<name>.py's get_config(arg)."""
  spec = importlib.util.spec_from_file_location(f"s2s_config_{name}",
                                                os.path.join(ROOT, "configs", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def load_script(name):
  """scripts/<name>.py as a module, to call its main() in-process."""
  spec = importlib.util.spec_from_file_location(f"s2s_script_{name}",
                                                os.path.join(ROOT, "scripts", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def train_on_devices(tmp_path, data_dir, args, counts=(1, 2)):
  """metrics.jsonl events of the same run on each number of (emulated CPU) devices."""
  runs = {}
  for devices in counts:
    workdir = tmp_path / f"devices{devices}"
    result = train_cli(workdir, data_dir, *args, env={
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"})
    assert result.returncode == 0, result.stderr
    assert f"on {devices} cpu device(s)" in result.stdout
    runs[devices] = read_metrics(workdir)
  return runs


def resume_after(reference, copy, step: int, data_dir, *args):
  """Reruns a finished run as if killed just after checkpoint `step`: a copy of `reference`
  without its later checkpoints and done mark, trained again with `args`. Returns the
  CompletedProcess; the caller compares the copy with the reference."""
  shutil.copytree(reference, copy)
  for name in os.listdir(os.path.join(copy, "checkpoints")):
    if name.isdigit() and int(name) > step:
      shutil.rmtree(os.path.join(copy, "checkpoints", name))
  os.remove(os.path.join(copy, "done.json"))
  result = train_cli(copy, data_dir, *args)
  assert result.returncode == 0, result.stderr
  assert f"resuming at step {step}" in result.stdout
  return result


def final_params(workdir):
  """The leaves of a workdir's newest checkpoint's parameters, as numpy arrays."""
  from s2s import checkpoints  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  params, _ = checkpoints.restore_params(workdir)
  return jax.tree.leaves(jax.tree.map(np.asarray, params))
