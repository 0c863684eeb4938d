"""Sweeps: helpers, run names, the local launcher end to end, aggregation, bad input."""

import csv
import os
import sys
import textwrap

import pytest

from conftest import ROOT, assert_user_error, command_env, read_metrics
from conftest import run as run_python
from s2s import results
from s2s import sweeps
from s2s.sweeps import axis, product, seeds, zip_

TINY_CONFIG = textwrap.dedent(f"""\
    import sys
    sys.path.insert(0, {ROOT!r})
    from configs.addition import get_config  # noqa: F401
    from s2s.sweeps import axis, product, seeds, zip_

    SWEEPS = {{
        # 6,000 questions of 2 digits do not exist (valid config, impossible data): that run
        # fails when it starts, the others finish. (An invalid config stops the launch.)
        "tiny": zip_(axis("task.num_examples", [1000, 1000, 1000, 6000]), seeds(4)),
        "two": zip_(axis("model.hidden_size", [16, 8]), seeds(2)),
        "one": [{{"model.hidden_size": 16}}],
        "typo": [{{"model.hiden_size": 16}}, {{"model.hidden_size": 8}}],
        "seeds": seeds(2),
        # Each seed from the same seed's run of "seeds", by a path relative to where the
        # sweep is launched.
        "warm": product(seeds(2), [{{"init_from": "first/seed={{seed}}"}}]),
    }}
    """)
TINY_ARGS = "digits=2,num_examples=1000,epochs=1"


def script(name, *args, timeout=600, cwd=ROOT):
  env = command_env()
  return run_python([sys.executable, os.path.join(ROOT, "scripts", name), *args], cwd=cwd,
                    env=env, capture_output=True, text=True, timeout=timeout)


def launch(config, sweep, workdir, data_dir, *extra, cwd=ROOT):
  return script("launch.py", f"--config={config}:{TINY_ARGS}", f"--sweep={sweep}",
                f"--workdir={workdir}", "--set", "batch_size=16", "--set", "eval_batch_size=100",
                "--set", "log_every_steps=10", "--set", f"data_dir={data_dir}", *extra, cwd=cwd)


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
  path = tmp_path_factory.mktemp("configs") / "tiny.py"
  path.write_text(TINY_CONFIG)
  return str(path)


def test_product_zip_seeds():
  runs = product(zip_(axis("a", [1, 2]), axis("b", ["x", "y"])), seeds(2))
  assert runs == [{"a": 1, "b": "x", "seed": 0}, {"a": 1, "b": "x", "seed": 1},
                  {"a": 2, "b": "y", "seed": 0}, {"a": 2, "b": "y", "seed": 1}]
  assert product({"a": [1, 2], "b": [True]}) == [{"a": 1, "b": True}, {"a": 2, "b": True}]
  with pytest.raises(ValueError, match="different lengths"):
    zip_(axis("a", [1, 2]), axis("b", [1]))


def test_plots_skip_the_seed_and_zipped_fields():
  rows = [{"digits": d, "examples": n, "test": t, "hidden": h, "seed": s}
          for (d, n, t), h, s in [((2, 5, 30), 64, 0), ((3, 50, 500), 64, 1),
                                  ((4, 400, 500), 64, 2), ((2, 5, 30), 128, 3)]]
  assert results._plotted(rows, ["digits", "examples", "test", "hidden", "seed"]) == [
      "digits", "hidden"]
  # Same number of values but not one-to-one: both kept.
  rows = [{"a": 1, "b": 1}, {"a": 1, "b": 2}, {"a": 2, "b": 1}]
  assert results._plotted(rows, ["a", "b"]) == ["a", "b"]


def test_run_names_are_readable_and_stable():
  runs = product({"task.reverse": [True, False], "model.hidden_size": [64]}, seeds(2))
  names = sweeps.run_names(runs)
  assert names == ["reverse=True,seed=0", "reverse=True,seed=1",
                   "reverse=False,seed=0", "reverse=False,seed=1"]
  assert sweeps.run_names(runs) == names
  # Same last component in two fields: the dotted names keep them apart.
  assert sweeps.run_names([{"a.seed": 1, "seed": 1}, {"a.seed": 2, "seed": 2}]) == [
      "a.seed=1,seed=1", "a.seed=2,seed=2"]


@pytest.mark.parametrize("config", ["configs/addition.py", "configs/arithmetic.py"])
def test_config_sweeps(config):
  keras = sweeps.load_sweep(config, "keras_table")
  assert [(r["seed"], r["task.digits"], r["task.num_examples"]) for r in keras] == [
      (seed, digits, n) for seed in range(3)
      for digits, n in [(2, 5_000), (3, 50_000), (4, 400_000), (5, 550_000)]]
  for run in keras:
    c = sweeps.resolve_config(config, run)
    assert (c.task.reverse, c.model.name, c.model.hidden_size, c.model.encoder_layers,
            c.task.ops, c.schedule, c.stop_at) == (
                True, "repeat", 128, 1, "+", "constant", "padded_char_accuracy>=0.99")
  ablation = sweeps.load_sweep(config, "ablation")
  assert len(ablation) == 2 * 2 * 2 * 3 * 3
  assert len(set(sweeps.run_names(ablation))) == 72
  configs = [sweeps.resolve_config(config, run) for run in ablation]
  assert {c.task.ops for c in configs} == {"+-"}
  assert {(c.model.encoder_layers, c.model.decoder_layers) for c in configs} == {(1, 1), (2, 2)}
  assert {c.model.hidden_size for c in configs} == {64, 128, 256}
  assert {c.seed for c in configs} == {0, 1, 2}


@pytest.mark.slow
def test_local_sweep_failure_aggregate_and_relaunch(tiny_config, tmp_path, data_dir):
  workdir = str(tmp_path / "sweep")
  result = launch(tiny_config, "tiny", workdir, data_dir, "--parallel=2")
  assert result.returncode == 1, result.stdout + result.stderr
  assert "3 of 4 run(s) finished; 1 failed:" in result.stdout, result.stdout
  assert "num_examples=6000,seed=3: error: could only draw 5050 distinct questions" in result.stdout
  done = ["num_examples=1000,seed=0", "num_examples=1000,seed=1", "num_examples=1000,seed=2"]
  for name in done:
    assert sweeps.run_state(os.path.join(workdir, name)) == ("done", "")
  assert sweeps.run_state(os.path.join(workdir, "num_examples=6000,seed=3"))[0] == "failed"

  status = launch(tiny_config, "tiny", workdir, data_dir, "--status")
  assert status.returncode == 1 and "3 done" in status.stdout and "1 failed" in status.stdout

  out = str(tmp_path / "agg")
  agg = script("aggregate.py", workdir, f"--out={out}", "--test_metrics=loss")
  assert agg.returncode == 0, agg.stderr
  with open(os.path.join(out, "results.csv")) as f:
    rows = {r["run"]: r for r in csv.DictReader(f)}
  assert {rows[n]["state"] for n in done} == {"done"}
  assert rows["num_examples=6000,seed=3"]["state"] == "failed"
  assert "distinct questions" in rows["num_examples=6000,seed=3"]["detail"]
  assert rows["num_examples=1000,seed=0"]["task.num_examples"] == "1000"
  assert 0 <= float(rows["num_examples=1000,seed=0"]["test_sequence_accuracy"]) <= 1
  test_loss = [e["loss"] for e in read_metrics(os.path.join(workdir, "num_examples=1000,seed=0"))
               if e["split"] == "test"]
  assert float(rows["num_examples=1000,seed=0"]["test_loss"]) == pytest.approx(test_loss[-1])
  table = open(os.path.join(out, "results.md")).read()
  assert "| 1000 | 3 | - |" in table and "num_examples=6000,seed=3 (failed)" in table
  assert "| test_sequence_accuracy | test_loss |" in table
  for png in ("learning_curves.png", "sequence_accuracy_vs_task.num_examples.png"):
    assert os.path.getsize(os.path.join(out, png)) > 1000
  assert not os.path.exists(os.path.join(out, "sequence_accuracy_vs_seed.png"))

  mtimes = {n: os.path.getmtime(os.path.join(workdir, n, "metrics.jsonl")) for n in done}
  again = launch(tiny_config, "tiny", workdir, data_dir)
  assert again.returncode == 1
  assert "3 done (skipped)" in again.stdout and "1 to run" in again.stdout, again.stdout
  assert "start num_examples=6000,seed=3" in again.stdout
  assert not any(f"start {n}" in again.stdout for n in done)
  assert mtimes == {n: os.path.getmtime(os.path.join(workdir, n, "metrics.jsonl")) for n in done}


def test_interrupted_run_is_failed_and_rerun(tiny_config, tmp_path, data_dir):
  workdir = tmp_path / "sweep"
  run_dir = workdir / "hidden_size=16,seed=0"
  run_dir.mkdir(parents=True)
  # A launcher killed mid-run leaves "running" with a process that no longer exists.
  sweeps.write_json(str(run_dir / sweeps.STATE_FILE),
                    {"state": "running", "pid": 2 ** 22 + 1, "host": os.uname().nodename})
  assert sweeps.run_state(str(run_dir)) == ("failed", "interrupted (its process is gone)")
  dry = launch(tiny_config, "two", str(workdir), data_dir, "--dry_run")
  assert dry.returncode == 0 and "2 to run" in dry.stdout
  assert "--config.model.hidden_size=16 --config.seed=0" in dry.stdout


def test_a_sweep_starts_each_seed_from_another_sweep_s_run(tiny_config, tmp_path, data_dir):
  """init_from="first/seed={seed}": relative to where the sweep is launched (the runs start
  in the repository root), each run from the run of its own seed; refused before any run
  while that sweep has not run."""
  refused = launch(tiny_config, "warm", "second", data_dir, cwd=tmp_path)
  assert_user_error(refused, "run seed=0", "config.init_from='first/seed=0' is not a directory")
  assert not os.path.exists(tmp_path / "second")
  assert launch(tiny_config, "seeds", "first", data_dir, cwd=tmp_path).returncode == 0
  result = launch(tiny_config, "warm", "second", data_dir, cwd=tmp_path)
  assert result.returncode == 0, result.stdout + result.stderr
  for seed in (0, 1):
    log = open(tmp_path / "second" / f"seed={seed}" / sweeps.LOG_FILE).read()
    assert f"init_from {tmp_path}/first/seed={seed} (step " in log, log


def test_unknown_sweep(tiny_config, tmp_path, data_dir):
  result = launch(tiny_config, "nope", str(tmp_path / "w"), data_dir)
  assert_user_error(result, "unknown sweep 'nope'", "tiny")


def test_unknown_field(tiny_config, tmp_path, data_dir):
  result = launch(tiny_config, "typo", str(tmp_path / "w"), data_dir)
  assert_user_error(result, "unknown config field 'model.hiden_size'")
  assert not os.path.exists(tmp_path / "w")
  result = launch(tiny_config, "two", str(tmp_path / "w"), data_dir, "--set", "nope=1")
  assert_user_error(result, "unknown config field 'nope'")


def test_aggregate_empty_or_missing(tmp_path):
  assert_user_error(script("aggregate.py", str(tmp_path / "missing")), "does not exist")
  assert_user_error(script("aggregate.py", str(tmp_path)), "holds no runs")


def test_slurm_unreachable(tiny_config, tmp_path, data_dir):
  # An sbatch/sinfo that cannot reach a controller, whether or not SLURM is installed here.
  fake = tmp_path / "bin"
  fake.mkdir()
  for tool in ("sbatch", "sinfo"):
    (fake / tool).write_text("#!/bin/sh\necho 'slurm_load_partitions: Unable to contact slurm "
                             "controller (connect failure)' >&2\nexit 1\n")
    (fake / tool).chmod(0o755)
  env_path = f"{fake}:{os.environ['PATH']}"
  result = run_python(
      [sys.executable, "scripts/launch.py", f"--config={tiny_config}:{TINY_ARGS}",
       "--sweep=two", f"--workdir={tmp_path / 'w'}", "--backend=slurm"],
      cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PATH": env_path})
  assert_user_error(result, "SLURM is unreachable", "Unable to contact slurm controller")
