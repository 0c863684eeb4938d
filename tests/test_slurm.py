"""A 2-run sweep through a real SLURM cluster: submit, wait, aggregate.

Needs a running cluster (`sudo scripts/start_local_slurm.sh` starts one on this machine);
skipped only where `sbatch` is not installed. Where sbatch exists but no controller answers,
the test fails: the launcher must then report SLURM as unreachable.
"""

import csv
import glob
import os
import shutil

import pytest

from conftest import read_metrics
from s2s import sweeps
from test_sweeps import launch, script, tiny_config  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.skipif(
    shutil.which("sbatch") is None,
    reason="sbatch is not installed (scripts/start_local_slurm.sh installs and starts SLURM)")


def test_slurm_sweep_submit_wait_aggregate(tiny_config, tmp_path, data_dir):  # noqa: F811
  workdir = str(tmp_path / "sweep")
  result = launch(tiny_config, "two", workdir, data_dir, "--backend=slurm", "--wait",
                  "--cpus_per_task=1", "--time=10")
  assert result.returncode == 0, result.stdout + result.stderr
  assert "submitted 2 run(s) as SLURM array" in result.stdout
  assert "2 of 2 run(s) finished" in result.stdout
  names = ["hidden_size=16,seed=0", "hidden_size=8,seed=1"]
  for name in names:
    run_dir = os.path.join(workdir, name)
    assert sweeps.run_state(run_dir) == ("done", "")
    state = sweeps.read_json(os.path.join(run_dir, sweeps.STATE_FILE))
    assert state["slurm_job_id"].count("_") == 1  # An array task: <array>_<index>.
    assert "already trained" not in open(os.path.join(run_dir, sweeps.LOG_FILE)).read()
  assert len(glob.glob(os.path.join(workdir, "slurm_logs", "*_log.out"))) == 2

  status = launch(tiny_config, "two", workdir, data_dir, "--status")
  assert status.returncode == 0 and "2 done" in status.stdout
  again = launch(tiny_config, "two", workdir, data_dir, "--backend=slurm", "--wait")
  assert again.returncode == 0 and "0 to run" in again.stdout

  agg = script("aggregate.py", workdir, "--no_plots")
  assert agg.returncode == 0, agg.stderr
  with open(os.path.join(workdir, "results.csv")) as f:
    rows = {r["run"]: r for r in csv.DictReader(f)}
  assert sorted(rows) == names and {r["state"] for r in rows.values()} == {"done"}
  assert [rows[n]["model.hidden_size"] for n in names] == ["16", "8"]


def test_slurm_run_of_two_tasks_trains_as_two_processes(tiny_config, tmp_path, data_dir):  # noqa: F811
  """--tasks_per_node=2: SLURM starts 2 train processes, jax.distributed joins them."""
  workdir = str(tmp_path / "sweep")
  result = launch(tiny_config, "one", workdir, data_dir, "--backend=slurm", "--wait",
                  "--cpus_per_task=1", "--tasks_per_node=2", "--time=10")
  assert result.returncode == 0, result.stdout + result.stderr
  run_dir = os.path.join(workdir, "run")  # A sweep of one run: nothing varies in its name.
  assert sweeps.run_state(run_dir) == ("done", "")
  log = open(os.path.join(run_dir, sweeps.LOG_FILE)).read()
  assert "on 2 cpu device(s)" in log  # One device in each of the two processes.
  worker = open(os.path.join(run_dir, "train.task1.log")).read()
  assert "validation:" not in worker and "error" not in worker.lower()
  assert any(e["split"] == "test" for e in read_metrics(run_dir))
