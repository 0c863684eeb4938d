"""Training end to end: learning, exact resume after SIGKILL, 1 vs 2 devices, logs, predict."""

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from flax import traverse_util
import jax
from s2s import checkpoints
from s2s import config as config_lib
from s2s import train
from s2s.errors import UserError
from conftest import (REFERENCE, ROOT, TINY, assert_user_error, command_env, optimized, popen,
                      read_metrics, resume_after, run_cli, train_cli, train_on_devices)


def learning_config(model, data_dir):
  config = config_lib.base_config()
  config.task.digits = 2
  config.task.num_examples = 4500
  config.task.num_test = 450
  config.model.name = model
  # Learned embeddings, a high clipped rate: both models pass 0.99 with seeds 0 and 1 (one-hot
  # input at 3e-3 left encoder_decoder on a plateau for some initializations).
  config.model.embed_dim = 16
  config.learning_rate = 1e-2
  config.grad_clip_norm = 1.0
  config.warmup_steps = 100
  config.schedule = "cosine"
  config.num_epochs = 30
  # Both stop at 12-14 epochs (seed 0); the tests read >= 0.9 on validation and test.
  config.stop_at = "sequence_accuracy>=0.95"
  config.num_samples = 3
  config.data_dir = data_dir
  return config


@pytest.fixture(scope="module", params=["repeat", "encoder_decoder"])
def trained(request, data_dir, tmp_path_factory):
  """A model trained on 2-digit addition (4,050 training questions, until validation
  sequence_accuracy reaches 0.95, at most 30 epochs)."""
  workdir = str(tmp_path_factory.mktemp(request.param))
  with optimized():  # 14 epochs: XLA's optimizations save more than they cost.
    train.train_and_evaluate(learning_config(request.param, data_dir), workdir)
  return workdir


def test_sample_table_marks_a_prediction_right_if_it_equals_any_accepted_text(tmp_path, capsys):
  from s2s import reporting  # pylint: disable=import-outside-toplevel
  config = config_lib.base_config()
  reporter = reporting.Reporter(str(tmp_path), config, start_step=0, total_steps=10,
                                steps_per_epoch=5)
  queries, targets = ["img0", "img1", "img2"], ["a cat", "a dog", "a cow"]
  predictions = ["a cat", "one dog", "a cow"]
  # img1's other caption is "one dog": a right answer in another phrasing.
  accepted = [["a cat"], ["a dog", "one dog"], ["a cow", "the cow"]]
  reporter.samples("validation", 5, queries, targets, predictions, count=3, accepted=accepted)
  marks = {l.split()[0]: l.split()[-1] for l in capsys.readouterr().out.splitlines()[1:]}
  assert marks == {"img0": "right", "img1": "right", "img2": "right"}
  reporter.samples("validation", 5, queries, targets, predictions, count=3)  # Targets only.
  marks = {l.split()[0]: l.split()[-1] for l in capsys.readouterr().out.splitlines()[1:]}
  assert marks == {"img0": "right", "img1": "WRONG", "img2": "right"}


def test_models_learn_two_digit_addition(trained):
  events = read_metrics(trained)
  final = {e["split"]: e for e in events if e["step"] == events[-1]["step"]}
  assert final["validation"]["sequence_accuracy"] >= 0.9
  assert final["test"]["sequence_accuracy"] >= 0.9
  # Accuracies are consistent: a right sequence has every token right.
  for split in ("validation", "test"):
    assert final[split]["token_accuracy"] >= final[split]["sequence_accuracy"]
  # Training loss fell.
  train_losses = [e["loss"] for e in events if e["split"] == "train"]
  assert train_losses[-1] < train_losses[0] / 5


def test_predict_cli_agrees_with_validation_accuracy(trained, data_dir):
  """Every validation query through `s2s.predict` (stdin mode) scores what training reported."""
  from s2s import dataset
  config = learning_config("repeat", data_dir)
  source = dataset.load(config.task, data_dir)["validation"]
  pairs = [(r["query"].decode(), r["answer"].decode()) for r in source]
  result = run_cli("s2s.predict", [f"--workdir={trained}"],
                   stdin="".join(f"{q}\n" for q, _ in pairs))
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert len(lines) == len(pairs)
  answers = [line.split("\t") for line in lines]
  assert [q for q, _ in answers] == [q for q, _ in pairs]
  accuracy = np.mean([a == target for (_, a), (_, target) in zip(answers, pairs)])
  reported = [e for e in read_metrics(trained) if e["split"] == "validation"][-1]
  assert accuracy == pytest.approx(reported["sequence_accuracy"], abs=1e-9)

  # Queries as arguments, spaces allowed; answers are the same as from stdin.
  result = run_cli("s2s.predict", [f"--workdir={trained}", pairs[0][0], " ".join(pairs[1][0])])
  assert result.returncode == 0, result.stderr
  assert [l.split("\t")[1] for l in result.stdout.splitlines()] == [a for _, a in answers[:2]]


def final_params(workdir):
  params, _ = checkpoints.restore_params(workdir)
  return jax.tree.map(np.asarray, params)


def test_sigkill_then_resume_is_bitwise_identical(tmp_path, data_dir):
  args = ["--config.num_steps=300", "--config.checkpoint_every_steps=40",
          "--config.model.dropout=0.1"]  # Dropout: the RNG stream must resume too.
  reference = tmp_path / "uninterrupted"
  result = train_cli(reference, data_dir, *args)
  assert result.returncode == 0, result.stderr

  killed = tmp_path / "killed"
  command = [sys.executable, "-m", "s2s.train", *TINY, f"--workdir={killed}",
             f"--config.data_dir={data_dir}", *args]
  env = command_env()
  process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.time() + 300
  while not os.path.isdir(killed / "checkpoints" / "120") and time.time() < deadline:
    time.sleep(0.05)
  assert process.poll() is None, "the run ended before it could be killed"
  process.send_signal(signal.SIGKILL)
  process.wait()
  steps = sorted(int(s) for s in os.listdir(killed / "checkpoints") if s.isdigit())
  assert 120 <= steps[-1] < 300

  result = train_cli(killed, data_dir, *args)
  assert result.returncode == 0, result.stderr
  assert f"resuming at step {steps[-1]}" in result.stdout

  expected, actual = final_params(reference), final_params(killed)
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(actual)):
    np.testing.assert_array_equal(a, b)
  # The metrics log reads as one run: same events, in order, no duplicates.
  strip = lambda events: [{k: v for k, v in e.items() if k != "elapsed_s"} for e in events]
  assert strip(read_metrics(killed)) == strip(read_metrics(reference))
  # Wall time continues across the restart instead of starting again from 0.
  elapsed = [e["elapsed_s"] for e in read_metrics(killed)]
  assert elapsed == sorted(elapsed)


def test_two_devices_match_one_device(tmp_path, data_dir):
  args = ["--config.num_steps=60", "--config.log_every_steps=5", "--config.batch_size=32"]
  runs = train_on_devices(tmp_path, data_dir, args)
  for one, two in zip(runs[1], runs[2], strict=True):
    assert (one["step"], one["split"]) == (two["step"], two["split"])
    for name in ("loss", "token_accuracy", "sequence_accuracy"):
      assert two[name] == pytest.approx(one[name], rel=1e-4, abs=1e-6), (one, two)


def test_workdir_holds_config_metrics_tensorboard_and_wandb(tmp_path, data_dir):
  workdir = tmp_path / "run"
  result = train_cli(workdir, data_dir, "--config.wandb.project=s2s-test",
                     "--config.wandb.mode=offline", env={"WANDB_MODE": "offline"})
  assert result.returncode == 0, result.stderr

  with open(workdir / "config.json") as f:
    assert json.load(f)["model"]["hidden_size"] == 16
  events = read_metrics(workdir)
  for e in events:
    assert {"step", "epoch", "split", "loss", "token_accuracy", "sequence_accuracy"} <= set(e)
  assert {e["split"] for e in events} == {"train", "validation", "test"}
  for e in events:
    if e["split"] != "train":
      assert 0 <= e["padded_char_accuracy"] <= 1
  last_val = [e for e in events if e["split"] == "validation"][-1]

  # The sample table: 10 validation rows with a right/wrong mark.
  marks = [l for l in result.stdout.splitlines() if l.endswith(("right", "WRONG"))]
  assert len(marks) == 20  # After the one validation pass and the test pass.

  # TensorBoard event files, read back with TensorBoard's own reader.
  from tensorboard.backend.event_processing import event_accumulator
  acc = event_accumulator.EventAccumulator(str(workdir / "tensorboard"))
  acc.Reload()
  scalars = acc.Scalars("validation/sequence_accuracy")
  assert scalars[-1].step == last_val["step"]
  assert scalars[-1].value == pytest.approx(last_val["sequence_accuracy"])

  # W&B offline run, in the workdir: its record log holds the metrics we logged
  # (history items are protobufs: key, then value_json after the 0x82 0x01 tag),
  # and the sample tables are JSON files.
  runs = glob.glob(str(workdir / "wandb" / "offline-run-*"))
  assert len(runs) == 1
  with open(glob.glob(os.path.join(runs[0], "run-*.wandb"))[0], "rb") as f:
    records = f.read()
  logged = [float(v) for v in re.findall(rb"validation/loss\x82\x01.([-0-9.e]+)", records)]
  assert logged[-1] == last_val["loss"]
  table = glob.glob(os.path.join(runs[0], "files", "media", "table", "validation", "*.json"))
  with open(table[0]) as f:
    table = json.load(f)
  assert table["columns"] == ["query", "target", "prediction", "right"]
  assert len(table["data"]) == 10
  assert all(right == (target == prediction) for _, target, prediction, right in table["data"])


def test_rerunning_a_finished_run_changes_nothing(tmp_path, data_dir, reference_run):
  workdir = tmp_path / "run"
  shutil.copytree(reference_run, workdir)
  before = (workdir / "metrics.jsonl").read_text()
  result = train_cli(workdir, data_dir, *REFERENCE)
  assert result.returncode == 0, result.stderr
  assert "already trained" in result.stdout
  assert (workdir / "metrics.jsonl").read_text() == before


def test_stop_at_ends_training_at_the_first_evaluation_that_reaches_it(tmp_path, data_dir):
  # 2 epochs; loss after one epoch is far below 10, far above 1e-3.
  workdir = tmp_path / "run"
  args = ["--config.num_epochs=2", "--config.log_every_steps=1000"]
  result = train_cli(workdir, data_dir, *args, "--config.stop_at=loss<=10")
  assert result.returncode == 0, result.stderr
  events = read_metrics(workdir)
  val = [e for e in events if e["split"] == "validation"]
  test = [e for e in events if e["split"] == "test"]
  assert len(val) == 1 and len(test) == 1 and val[0]["epoch"] == 1
  assert test[0]["step"] == val[0]["step"]
  assert "stopping at step" in result.stdout
  # A stopped run counts as finished: rerunning it trains nothing more.
  before = (workdir / "metrics.jsonl").read_text()
  result = train_cli(workdir, data_dir, *args, "--config.stop_at=loss<=10")
  assert "already trained" in result.stdout
  assert (workdir / "metrics.jsonl").read_text() == before
  # A threshold never reached trains the whole budget.
  workdir = tmp_path / "full"
  assert train_cli(workdir, data_dir, *args, "--config.stop_at=loss<=1e-3").returncode == 0
  val = [e for e in read_metrics(workdir) if e["split"] == "validation"]
  assert [e["epoch"] for e in val] == [1, 2]


def test_progress_bar_on_a_terminal_plain_lines_otherwise(tmp_path, data_dir):
  import fcntl
  import pty
  import struct
  import termios
  leader, follower = pty.openpty()
  fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))  # rows, cols
  command = [sys.executable, "-m", "s2s.train", *TINY, f"--workdir={tmp_path / 'tty'}",
             f"--config.data_dir={data_dir}", "--config.num_samples=0"]
  env = command_env()
  process = popen(command, cwd=ROOT, env=env, stdout=follower, stderr=subprocess.DEVNULL)
  os.close(follower)
  output = b""
  while True:
    try:
      chunk = os.read(leader, 65536)
    except OSError:  # The terminal closes when the process exits.
      break
    if not chunk:
      break
    output += chunk
  assert process.wait() == 0
  text = output.decode(errors="replace")
  assert "100%|" in text and "step/s" in text  # tqdm's bar with its rate and ETA.
  assert "examples/s, ETA" in text  # Metric lines are still printed above the bar.

  plain = train_cli(tmp_path / "pipe", data_dir, "--config.num_samples=0")
  assert plain.returncode == 0
  assert "100%|" not in plain.stdout and "\r" not in plain.stdout
  assert "examples/s, ETA" in plain.stdout


def test_fused_steps_give_the_same_training_as_single_steps(tmp_path, data_dir):
  """steps_per_dispatch=K (lax.scan over K batches) == K separate steps."""
  args = ["--config.num_steps=70", "--config.log_every_steps=7", "--config.eval_every_steps=35",
          "--config.checkpoint_every_steps=30", "--config.model.dropout=0.1"]
  runs = {}
  for k in (1, 5):
    workdir = tmp_path / f"k{k}"
    result = train_cli(workdir, data_dir, *args, f"--config.steps_per_dispatch={k}")
    assert result.returncode == 0, result.stderr
    runs[k] = workdir
  single, fused = read_metrics(runs[1]), read_metrics(runs[5])
  assert [(e["step"], e["split"]) for e in single] == [(e["step"], e["split"]) for e in fused]
  for a, b in zip(single, fused):
    for name in ("loss", "token_accuracy", "sequence_accuracy"):
      assert b[name] == pytest.approx(a[name], rel=1e-5, abs=1e-7), (a, b)
  for a, b in zip(jax.tree.leaves(final_params(runs[1])), jax.tree.leaves(final_params(runs[5]))):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_run_from_the_compilation_cache_trains_identically(tmp_path, data_dir):
  """The second run loads its programs from --compilation_cache and gets the same numbers."""
  cache = tmp_path / "cache"
  runs = []
  for name in ("first", "second"):
    result = train_cli(tmp_path / name, data_dir, f"--compilation_cache={cache}",
                       "--config.num_steps=40")
    assert result.returncode == 0, result.stderr
    runs.append([{k: v for k, v in e.items() if k != "elapsed_s"}
                 for e in read_metrics(tmp_path / name)])
    if name == "first":
      assert any(f.name.startswith("jit_") for f in cache.iterdir())  # Programs were cached.
  assert runs[0] == runs[1]


# Warm start (config.init_from) ---------------------------------------------------------------

def _fresh_state(**overrides):
  from s2s import sweeps, tasks  # pylint: disable=import-outside-toplevel
  config = sweeps.resolve_config(
      os.path.join(ROOT, "configs/addition.py:digits=2,num_examples=1000"),
      {"model.hidden_size": 16, **overrides})
  task, model = tasks.build(config)
  return train.init_state(config, model, task, train.make_optimizer(config, 10))


def test_a_warm_start_copies_what_matches_and_initialises_the_rest(tmp_path, run_20_steps):
  source = run_20_steps
  trained = {k: np.asarray(v) for k, v in
             traverse_util.flatten_dict(checkpoints.restore_params(source)[0]).items()}
  # Subtraction too: the vocabulary gains '-', so the input and output layers change shape
  # while the LSTMs keep theirs; another seed, so fresh and copied values differ.
  state = _fresh_state(**{"task.ops": "+-", "seed": 1})
  fresh = traverse_util.flatten_dict(state.params)
  warmed, line = train.warm_start(state, str(source))
  got = traverse_util.flatten_dict(warmed.params)
  copied = [p for p in fresh if p in trained and trained[p].shape == fresh[p].shape]
  assert 0 < len(copied) < len(fresh)
  for path in fresh:
    np.testing.assert_array_equal(got[path], trained[path] if path in copied else fresh[path])
  assert f"copied {len(copied)} of {len(fresh)} parameter arrays" in line
  assert "(step 20)" in line and "initialised afresh:" in line
  # The optimizer starts anew from the copied parameters: Adam's moments are zero.
  assert all(not np.any(np.asarray(x)) for x in jax.tree.leaves(warmed.opt_state)
             if np.asarray(x).ndim)

  # Only the modules asked for.
  first = sorted({p[0] for p in fresh})[0]
  partial, _ = train.warm_start(state, str(source), first)
  partial = traverse_util.flatten_dict(partial.params)
  for path in fresh:
    expected = trained[path] if path in copied and path[0] == first else fresh[path]
    np.testing.assert_array_equal(partial[path], expected)

  with pytest.raises(UserError, match="init_from_modules names 'listener'"):
    train.warm_start(state, str(source), "listener")
  with pytest.raises(UserError, match="config.init_from: .*has no checkpoints"):
    train.warm_start(state, str(tmp_path))
  with pytest.raises(UserError, match="no parameter of .* has the path and shape"):
    train.warm_start(_fresh_state(**{"model.hidden_size": 8, "task.ops": "+-"}), str(source))


def test_a_warm_started_run_resumes_from_its_own_checkpoint(tmp_path, data_dir, run_20_steps):
  source = run_20_steps
  args = [f"--config.init_from={source}", "--config.num_steps=40",
          "--config.checkpoint_every_steps=20"]
  reference = tmp_path / "warm"
  result = train_cli(reference, data_dir, *args)
  assert result.returncode == 0, result.stderr
  assert f"init_from {source} (step 20): copied" in result.stdout
  # Killed after its first checkpoint, it resumes from it, not from the source again.
  result = resume_after(reference, tmp_path / "resumed", 20, data_dir, *args)
  assert "init_from" not in result.stdout
  for a, b in zip(jax.tree.leaves(final_params(reference)),
                  jax.tree.leaves(final_params(tmp_path / "resumed"))):
    np.testing.assert_array_equal(a, b)
  assert_user_error(train_cli(tmp_path / "other", data_dir, "--config.init_from=no/such/run"),
                    "config.init_from='no/such/run' is not a directory")


def test_init_from_names_the_seed_of_the_run(tmp_path, data_dir, run_20_steps):
  """`{seed}` in config.init_from is the run's seed: a sweep over seeds starts each run from
  the same seed's run of another sweep."""
  shutil.copytree(run_20_steps, tmp_path / "source/seed=0")  # Seed 0, 20 steps.
  assert train_cli(tmp_path / "source/seed=1", data_dir, "--config.num_steps=10",
                   "--config.seed=1").returncode == 0
  result = train_cli(tmp_path / "warm", data_dir, "--config.num_steps=10", "--config.seed=1",
                     f"--config.init_from={tmp_path}/source/seed={{seed}}")
  assert result.returncode == 0, result.stderr
  assert f"init_from {tmp_path}/source/seed=1 (step 10): copied" in result.stdout
  assert_user_error(train_cli(tmp_path / "other", data_dir, "--config.seed=2",
                              f"--config.init_from={tmp_path}/source/seed={{seed}}"),
                    f"config.init_from='{tmp_path}/source/seed=2' is not a directory")
