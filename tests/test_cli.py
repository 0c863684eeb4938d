"""Bad input at the command line: one `error:` line naming the problem, exit 2, nothing touched."""

import json
import os
import shutil

import pytest

from conftest import REFERENCE, assert_user_error, read_metrics, run_cli, train_cli


@pytest.mark.parametrize("args, words", [
    (["--config.model.hiden_size=3"], ["unknown config field", "config.model.hiden_size",
                                       "hidden_size"]),
    (["--config.task.digits=0"], ["config.task.digits", "positive"]),
    (["--config.task.ops=+/"], ["config.task.ops", "'/'"]),
    (["--config.model.hidden_size=0"], ["config.model.hidden_size", "positive"]),
    (["--config.model.hidden_size=-4"], ["config.model.hidden_size", "positive"]),
    (["--config.model.cell=rnn"], ["config.model.cell", "lstm"]),
    (["--config.batch_size=abc"], ["config.batch_size"]),
    (["--config.stop_at=accuracy>0.9"], ["config.stop_at", "metric>=value"]),
    (["--config.stop_at=acuracy>=0.9"], ["config.stop_at", "'acuracy'"]),
])
def test_bad_config_values(tmp_path, data_dir, args, words):
  workdir = tmp_path / "run"
  assert_user_error(train_cli(workdir, data_dir, *args), *words)
  assert not workdir.exists()


@pytest.mark.parametrize("config, words", [
    ("configs/arithmetic.py:ops=+/", ["unknown operator", "'/'"]),
    ("configs/arithmetic.py:digits=0", ["config.task.digits"]),
    ("configs/arithmetic.py:colour=red", ["unknown config argument", "colour"]),
    ("configs/missing.py", ["cannot load the config file", "configs/missing.py"]),
])
def test_bad_config_file_arguments(tmp_path, config, words):
  workdir = tmp_path / "run"
  assert_user_error(run_cli("s2s.train", [f"--config={config}", f"--workdir={workdir}"]), *words)
  assert not workdir.exists()


def test_batch_not_divisible_by_devices(tmp_path, data_dir):
  workdir = tmp_path / "run"
  result = train_cli(workdir, data_dir, "--config.batch_size=15",
                     env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
  assert_user_error(result, "config.batch_size=15", "2 devices")
  assert not workdir.exists()


@pytest.fixture
def finished_run(reference_run, tmp_path):
  """A copy of conftest's finished reference run."""
  workdir = tmp_path / "finished"
  shutil.copytree(reference_run, workdir)
  return workdir


def snapshot(workdir):
  return {p: (workdir / p).read_bytes() for p in ("config.json", "metrics.jsonl")} | {
      "checkpoints": sorted(os.listdir(workdir / "checkpoints"))}


def test_changed_config_in_existing_workdir_is_refused(finished_run, data_dir):
  before = snapshot(finished_run)
  result = train_cli(finished_run, data_dir, *REFERENCE, "--config.model.hidden_size=32")
  assert_user_error(result, "different config", "model.hidden_size: 16 -> 32",
                    "--allow_config_change")
  assert snapshot(finished_run) == before


def test_a_run_from_before_a_new_config_field_resumes(tmp_path, data_dir, run_20_steps):
  """A run whose config.json predates a field (as model.ctc_weight was added later; here
  model.dropout, removed from the file, plays it) continues when the field is at its default,
  and config.json gains it; set to anything else, it is a change."""
  workdir = tmp_path / "run"
  shutil.copytree(run_20_steps, workdir)
  config = json.loads((workdir / "config.json").read_text())
  del config["model"]["dropout"]
  (workdir / "config.json").write_text(json.dumps(config))
  before = snapshot(workdir)
  result = train_cli(workdir, data_dir, "--config.num_steps=20", "--config.model.dropout=0.5")
  assert_user_error(result, "different config", "model.dropout: '<absent>' -> 0.5")
  assert snapshot(workdir) == before
  result = train_cli(workdir, data_dir, "--config.num_steps=20")
  assert result.returncode == 0, result.stderr
  assert json.loads((workdir / "config.json").read_text())["model"]["dropout"] == 0.0
  assert not (workdir / "config.previous.json").exists()


def test_allow_config_change_continues_the_run(tmp_path, data_dir, run_20_steps):
  workdir = tmp_path / "run"
  shutil.copytree(run_20_steps, workdir)
  result = train_cli(workdir, data_dir, "--config.num_steps=40", "--allow_config_change")
  assert result.returncode == 0, result.stderr
  assert "resuming at step 20" in result.stdout
  assert (workdir / "config.previous.json").exists()
  assert [e["step"] for e in read_metrics(workdir) if e["split"] == "test"] == [40]


def test_predict_unknown_character(finished_run):
  result = run_cli("s2s.predict", [f"--workdir={finished_run}", "12+3a"])
  assert_user_error(result, "'a'", "12+3a")


def test_predict_empty_query(finished_run):
  assert_user_error(run_cli("s2s.predict", [f"--workdir={finished_run}"], stdin="\n"),
                    "no queries")


def test_predict_missing_workdir(tmp_path):
  assert_user_error(run_cli("s2s.predict", [f"--workdir={tmp_path / 'nope'}", "1+2"]),
                    "does not exist")


def test_predict_empty_workdir(tmp_path):
  assert_user_error(run_cli("s2s.predict", [f"--workdir={tmp_path}", "1+2"]), "config.json")


def test_predict_workdir_without_checkpoint(tmp_path, finished_run):
  (tmp_path / "config.json").write_bytes((finished_run / "config.json").read_bytes())
  assert_user_error(run_cli("s2s.predict", [f"--workdir={tmp_path}", "1+2"]), "checkpoint")


def test_predict_query_too_long(finished_run):
  assert_user_error(run_cli("s2s.predict", [f"--workdir={finished_run}", "1+2" * 10]),
                    "characters")


def test_impossible_dataset_is_an_error_and_the_workdir_stays_usable(tmp_path, data_dir):
  workdir = tmp_path / "run"
  result = run_cli("s2s.train", ["--config=configs/addition.py:digits=1,num_examples=200",
                                 f"--workdir={workdir}", f"--config.data_dir={data_dir}"])
  assert_user_error(result, "distinct questions", "digits=1")
  # Nothing was trained, so a corrected config may use the same workdir.
  result = train_cli(workdir, data_dir, "--config.num_steps=2")
  assert result.returncode == 0, result.stderr
