"""The task protocol (s2s/tasks/__init__.py): a task outside s2s trains, evaluates, predicts
and sweeps with no change to s2s; a split larger than memory streams to the same results;
the default config's model and first losses are pinned; the loop never names a task."""

import ast
import csv
import glob
import io
import os
import re
import sys
import tokenize

import jax
import numpy as np
import pytest

from conftest import ROOT, assert_user_error, command_env, read_metrics, run, run_cli
from s2s import checkpoints
from s2s import input_pipeline
from s2s import sweeps
from s2s import tasks
from s2s import train
from toy_tasks import reverse

# The toy task and its config live in tests/toy_tasks/: subprocesses import them from there.
TOY_ENV = {"PYTHONPATH": os.pathsep.join(
    [os.path.join(ROOT, "tests"), ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p])}
TOY_CONFIG = "tests/toy_tasks/reverse_config.py"
EVENT_KEYS = {"step", "epoch", "split", "elapsed_s"}


def script(name, *args, env=None):
  full_env = command_env(env)
  return run([sys.executable, os.path.join(ROOT, "scripts", name), *args], cwd=ROOT,
             env=full_env, capture_output=True, text=True, timeout=600)


# ---------------------------------------------------------------------------------------------
# 1. A task added by one file and a config, outside s2s.

@pytest.fixture(scope="module")
def reverse_run(tmp_path_factory, data_dir):
  """A workdir where s2s.train learned to reverse words (200 steps, 800 training words)."""
  workdir = str(tmp_path_factory.mktemp("reverse"))
  result = run_cli("s2s.train", [f"--config={TOY_CONFIG}", f"--workdir={workdir}",
                                 f"--config.data_dir={data_dir}"], env=TOY_ENV)
  assert result.returncode == 0, result.stdout + result.stderr
  return workdir


def test_toy_task_trains_and_evaluates(reverse_run):
  events = read_metrics(reverse_run)
  for event in events:
    if event["split"] != "train":  # Evaluations report the task's METRICS, no others.
      assert set(event) - EVENT_KEYS == set(reverse.METRICS), event
  final = {e["split"]: e for e in events if e["step"] == 200}
  assert set(final) == {"train", "validation", "test"}
  assert [e["step"] for e in events if e["split"] == "validation"] == [100, 200]
  # Chance is 1/26 per letter; a word is right 1/26**length of the time.
  for split in ("validation", "test"):
    assert final[split]["sequence_accuracy"] > 0.8, final[split]
    # The task's own text metric agrees with the loop's on what is a right answer.
    assert final[split]["exact_match"] == pytest.approx(final[split]["sequence_accuracy"])
  train_losses = [e["loss"] for e in events if e["split"] == "train"]
  assert train_losses[-1] < train_losses[0] / 10


def test_toy_task_predicts(reverse_run):
  words = ["hello", "world", "abc", "sweep", "jax", "python"]
  result = run_cli("s2s.predict", [f"--workdir={reverse_run}", *words], env=TOY_ENV)
  assert result.returncode == 0, result.stderr
  lines = result.stdout.splitlines()
  assert [line.split("\t")[0] for line in lines] == words
  answers = [line.split("\t")[1] for line in lines]
  assert all(re.fullmatch("[a-z]*", a) for a in answers), answers
  assert sum(a == w[::-1] for a, w in zip(answers, words)) >= 4, answers

  refused = run_cli("s2s.predict", [f"--workdir={reverse_run}", "Hello"], env=TOY_ENV)
  assert_user_error(refused, "'Hello'", "'H'", "not in the vocabulary")


def test_toy_task_bad_values_are_one_line_errors(tmp_path):
  """Its RULES and its check() speak for its fields, as s2s's own rules do for theirs."""
  for flag, words in [("--config.task.max_letters=abc", ["config.task.max_letters", "'abc'"]),
                      ("--config.task.max_letters=0", ["config.task.max_letters", "positive"]),
                      ("--config.task.alphabet=ABC", ["config.task.alphabet", "lowercase"])]:
    result = run_cli("s2s.train", [f"--config={TOY_CONFIG}", f"--workdir={tmp_path / 'w'}",
                                   flag], env=TOY_ENV)
    assert_user_error(result, *words)
  assert not os.path.exists(tmp_path / "w")


def test_toy_task_sweeps(tmp_path, data_dir):
  workdir = str(tmp_path / "sweep")
  result = script("launch.py", f"--config={TOY_CONFIG}", "--sweep=seeds", f"--workdir={workdir}",
                  "--set", f"data_dir={data_dir}", "--parallel=1", env=TOY_ENV)
  assert result.returncode == 0, result.stdout + result.stderr
  assert "2 of 2 run(s) finished" in result.stdout, result.stdout
  names = ["seed=0", "seed=1"]
  for name in names:
    assert sweeps.run_state(os.path.join(workdir, name)) == ("done", "")
    test = [e for e in read_metrics(os.path.join(workdir, name)) if e["split"] == "test"]
    assert [e["step"] for e in test] == [20] and set(test[0]) - EVENT_KEYS == set(reverse.METRICS)

  out = str(tmp_path / "aggregate")
  agg = script("aggregate.py", workdir, f"--out={out}", "--no_plots",
               "--test_metrics=exact_match,loss", env=TOY_ENV)
  assert agg.returncode == 0, agg.stdout + agg.stderr
  with open(os.path.join(out, "results.csv")) as f:
    rows = {r["run"]: r for r in csv.DictReader(f)}
  assert sorted(rows) == names and {r["state"] for r in rows.values()} == {"done"}
  for name in names:
    test_loss = [e["loss"] for e in read_metrics(os.path.join(workdir, name))
                 if e["split"] == "test"][-1]
    assert float(rows[name]["test_loss"]) == pytest.approx(test_loss)
  table = open(os.path.join(out, "results.md")).read()
  assert "| test_sequence_accuracy | test_exact_match | test_loss |" in table, table
  assert "\n| 2 | - |" in table, table  # Both seeds finished, averaged in one row.
  assert "2 run(s): 2 done" in agg.stdout, agg.stdout


# ---------------------------------------------------------------------------------------------
# 2. Streamed splits: the same batches, so the same run, as splits held in memory.

def small_addition(data_dir, **overrides):
  return sweeps.resolve_config(
      os.path.join(ROOT, "configs/addition.py:digits=2,num_examples=1000"),
      {"model.hidden_size": 16, "batch_size": 16, "eval_batch_size": 100, "num_steps": 40,
       "log_every_steps": 10, "eval_every_steps": 40, "num_samples": 0, "data_dir": data_dir,
       "task.check_small_operands": False, **overrides})


def test_streamed_splits_train_and_evaluate_as_in_memory(tmp_path, data_dir, monkeypatch):
  held = []

  class CountedEncoded(input_pipeline.Encoded):
    def __init__(self, *args):
      held.append("Encoded")
      super().__init__(*args)

  class CountedStreamed(input_pipeline.Streamed):
    def __init__(self, *args):
      held.append("Streamed")
      super().__init__(*args)

  monkeypatch.setattr(input_pipeline, "Encoded", CountedEncoded)
  monkeypatch.setattr(input_pipeline, "Streamed", CountedStreamed)
  runs = {}
  for name, memory_mb in [("memory", None), ("streamed", 0.0)]:
    held.clear()
    config = small_addition(data_dir, **({} if memory_mb is None else
                                         {"data_memory_mb": memory_mb}))
    workdir = str(tmp_path / name)
    train.train_and_evaluate(config, workdir)
    # train, validation and test, each held one way.
    assert held == ["Encoded" if memory_mb is None else "Streamed"] * 3, held
    runs[name] = workdir

  def events(workdir):
    return [{k: v for k, v in e.items() if k != "elapsed_s"} for e in read_metrics(workdir)]

  assert [e["split"] for e in events(runs["memory"])] == [
      "train", "train", "train", "train", "validation", "test"]
  assert events(runs["streamed"]) == events(runs["memory"])
  (a, step_a), (b, step_b) = (checkpoints.restore_params(runs[n]) for n in ("memory", "streamed"))
  assert step_a == step_b == 40
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ---------------------------------------------------------------------------------------------
# 3. What the refactor into tasks must not change: the default model and its first losses.

# configs/addition.py, before the task protocol: losses of `python -m s2s.train` (40 steps).
ADDITION_TRAIN_LOSSES = {10: 2.6415364828454444, 20: 2.393596686261219,
                         30: 2.2795524828361744, 40: 2.2509804231574737}
ADDITION_VALIDATION_LOSS = 2.2387199893255176
ADDITION_TEST_LOSS = 2.2393181290412083


@pytest.mark.optimized  # Pinned numbers of the optimized program.
def test_default_config_first_losses(tmp_path, data_dir):
  workdir = str(tmp_path / "addition")
  result = run_cli("s2s.train", [
      "--config=configs/addition.py", "--config.num_steps=40", "--config.log_every_steps=10",
      "--config.eval_every_steps=40", "--config.num_samples=0", f"--config.data_dir={data_dir}",
      f"--workdir={workdir}"])
  assert result.returncode == 0, result.stdout + result.stderr
  events = read_metrics(workdir)
  train_losses = {e["step"]: e["loss"] for e in events if e["split"] == "train"}
  assert train_losses == pytest.approx(ADDITION_TRAIN_LOSSES, rel=1e-6)
  final = {e["split"]: e["loss"] for e in events if e["split"] != "train"}
  assert list(final) == ["validation", "test", "small_operands"]  # The last: every 1-2 digit sum.
  assert {k: final[k] for k in ("validation", "test")} == pytest.approx(
      {"validation": ADDITION_VALIDATION_LOSS, "test": ADDITION_TEST_LOSS}, rel=1e-6)


# Parameter path -> (shape, float64 sum at init), as before the task protocol.
REPEAT_PARAMS = {
    "['Encoder_0']['forward_0']['hf']['bias']": ((128,), 0.0),
    "['Encoder_0']['forward_0']['hf']['kernel']": ((128, 128), -17.64444105083703),
    "['Encoder_0']['forward_0']['hg']['bias']": ((128,), 0.0),
    "['Encoder_0']['forward_0']['hg']['kernel']": ((128, 128), -6.116142213936655),
    "['Encoder_0']['forward_0']['hi']['bias']": ((128,), 0.0),
    "['Encoder_0']['forward_0']['hi']['kernel']": ((128, 128), -2.573562147330449),
    "['Encoder_0']['forward_0']['ho']['bias']": ((128,), 0.0),
    "['Encoder_0']['forward_0']['ho']['kernel']": ((128, 128), 0.6763332855883846),
    "['Encoder_0']['forward_0']['if']['kernel']": ((15, 128), -6.415981132799061),
    "['Encoder_0']['forward_0']['ig']['kernel']": ((15, 128), 10.4663509273405),
    "['Encoder_0']['forward_0']['ii']['kernel']": ((15, 128), 36.403157431515865),
    "['Encoder_0']['forward_0']['io']['kernel']": ((15, 128), -7.662978737294907),
    "['decoder_0']['hf']['bias']": ((128,), 0.0),
    "['decoder_0']['hf']['kernel']": ((128, 128), -3.2348183267604327),
    "['decoder_0']['hg']['bias']": ((128,), 0.0),
    "['decoder_0']['hg']['kernel']": ((128, 128), 15.49348006537457),
    "['decoder_0']['hi']['bias']": ((128,), 0.0),
    "['decoder_0']['hi']['kernel']": ((128, 128), 6.447832655875175),
    "['decoder_0']['ho']['bias']": ((128,), 0.0),
    "['decoder_0']['ho']['kernel']": ((128, 128), 16.898195620861316),
    "['decoder_0']['if']['kernel']": ((128, 128), -1.9832776371235923),
    "['decoder_0']['ig']['kernel']": ((128, 128), -12.056749853743895),
    "['decoder_0']['ii']['kernel']": ((128, 128), 21.622000207430574),
    "['decoder_0']['io']['kernel']": ((128, 128), 24.327366989372422),
    "['logits']['bias']": ((15,), 0.0),
    "['logits']['kernel']": ((128, 15), 5.121946944651427),
}

ENCODER_DECODER_PARAMS = {
    "['bridge_0_c']['bias']": ((128,), 0.0),
    "['bridge_0_c']['kernel']": ((256, 128), -10.826130918122999),
    "['bridge_0_h']['bias']": ((128,), 0.0),
    "['bridge_0_h']['kernel']": ((256, 128), 8.073456331762372),
    "['decoder']['cell_0']['hf']['bias']": ((128,), 0.0),
    "['decoder']['cell_0']['hf']['kernel']": ((128, 128), -13.92619948269612),
    "['decoder']['cell_0']['hg']['bias']": ((128,), 0.0),
    "['decoder']['cell_0']['hg']['kernel']": ((128, 128), 1.354418587242435),
    "['decoder']['cell_0']['hi']['bias']": ((128,), 0.0),
    "['decoder']['cell_0']['hi']['kernel']": ((128, 128), -14.687243274047887),
    "['decoder']['cell_0']['ho']['bias']": ((128,), 0.0),
    "['decoder']['cell_0']['ho']['kernel']": ((128, 128), -6.502533949564736),
    "['decoder']['cell_0']['if']['kernel']": ((136, 128), 30.06819055438973),
    "['decoder']['cell_0']['ig']['kernel']": ((136, 128), -7.395959551512533),
    "['decoder']['cell_0']['ii']['kernel']": ((136, 128), 6.099421265412275),
    "['decoder']['cell_0']['io']['kernel']": ((136, 128), -23.628520022653674),
    "['decoder']['combine']['kernel']": ((384, 128), 6.2798613981504445),
    "['decoder']['key_proj']['kernel']": ((256, 128), 5.894320873625247),
    "['decoder']['logits']['bias']": ((15,), 0.0),
    "['decoder']['logits']['kernel']": ((128, 15), 2.292707450603416),
    "['decoder']['token_input']['Embed_0']['embedding']": ((15, 8), -1.7248174401465803),
    "['encoder']['backward_0']['hf']['bias']": ((128,), 0.0),
    "['encoder']['backward_0']['hf']['kernel']": ((128, 128), -1.412506687605628),
    "['encoder']['backward_0']['hg']['bias']": ((128,), 0.0),
    "['encoder']['backward_0']['hg']['kernel']": ((128, 128), 7.291213414845515),
    "['encoder']['backward_0']['hi']['bias']": ((128,), 0.0),
    "['encoder']['backward_0']['hi']['kernel']": ((128, 128), -11.944363688575322),
    "['encoder']['backward_0']['ho']['bias']": ((128,), 0.0),
    "['encoder']['backward_0']['ho']['kernel']": ((128, 128), -2.753395680542326),
    "['encoder']['backward_0']['if']['kernel']": ((8, 128), -13.853981166292215),
    "['encoder']['backward_0']['ig']['kernel']": ((8, 128), 2.308267284723115),
    "['encoder']['backward_0']['ii']['kernel']": ((8, 128), -8.14238918182673),
    "['encoder']['backward_0']['io']['kernel']": ((8, 128), -20.729599662510736),
    "['encoder']['forward_0']['hf']['bias']": ((128,), 0.0),
    "['encoder']['forward_0']['hf']['kernel']": ((128, 128), 11.774817606807247),
    "['encoder']['forward_0']['hg']['bias']": ((128,), 0.0),
    "['encoder']['forward_0']['hg']['kernel']": ((128, 128), 6.162626597633789),
    "['encoder']['forward_0']['hi']['bias']": ((128,), 0.0),
    "['encoder']['forward_0']['hi']['kernel']": ((128, 128), -11.714683762905679),
    "['encoder']['forward_0']['ho']['bias']": ((128,), 0.0),
    "['encoder']['forward_0']['ho']['kernel']": ((128, 128), 6.8670097443654186),
    "['encoder']['forward_0']['if']['kernel']": ((8, 128), -4.160015437599213),
    "['encoder']['forward_0']['ig']['kernel']": ((8, 128), 20.150388598252903),
    "['encoder']['forward_0']['ii']['kernel']": ((8, 128), 10.645615900866687),
    "['encoder']['forward_0']['io']['kernel']": ((8, 128), -5.828965591965243),
    "['source_input']['Embed_0']['embedding']": ((15, 8), -2.4064239589497447),
}


@pytest.mark.parametrize("overrides,expected", [
    ({}, REPEAT_PARAMS),
    ({"model.name": "encoder_decoder", "model.attention": "luong", "model.bidirectional": True,
      "model.embed_dim": 8}, ENCODER_DECODER_PARAMS),
], ids=["repeat", "encoder_decoder_luong_bidirectional"])
def test_default_config_parameters(overrides, expected):
  config = sweeps.resolve_config(os.path.join(ROOT, "configs/addition.py"), overrides)
  task, model = tasks.build(config)
  state = train.init_state(config, model, task, train.make_optimizer(config, 100))
  leaves, _ = jax.tree_util.tree_flatten_with_path(state.params)
  params = {jax.tree_util.keystr(path): np.asarray(x) for path, x in leaves}
  assert [(k, x.shape) for k, x in params.items()] == [(k, s) for k, (s, _) in expected.items()]
  sums = {k: float(x.astype(np.float64).sum()) for k, x in params.items()}
  # The recurrent kernels' orthogonal initialisation goes through a QR decomposition whose last
  # float32 bits depend on the CPU (sums differed by 1.2e-5 relative between two CI machines);
  # any change of initialiser, seed or shape moves a sum by far more than 1e-4.
  assert sums == pytest.approx({k: s for k, (_, s) in expected.items()}, rel=1e-4, abs=1e-6)


# ---------------------------------------------------------------------------------------------
# 4. Layering: the loop, prediction, reporting, results and scripts never name a task or a model.

LAYERED = ["s2s/train.py", "s2s/predict.py", "s2s/reporting.py", "s2s/results.py", "s2s/cli.py",
           "scripts/*.py"]
# Other frameworks' versions of one task, run by `benchmark.py --peers`: that task is their
# subject, as the Keras tutorial's is addition.
PEERS = ["scripts/keras_addition.py"]
NAMED = re.compile(r"translation|arithmetic|EncoderDecoder")
# A config file's path names the run a benchmark measures, not a task the code branches on.
CONFIG_PATH = re.compile(r"[\"']configs/\w+\.py[\"']")


def code_lines(source: str) -> dict:
  """line number -> the line's code: comments and docstrings (module, class, function)
  blanked out; strings that are not docstrings are code."""
  tree = ast.parse(source)
  docstrings = set()
  for node in ast.walk(tree):
    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
      body = node.body
      if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
          and isinstance(body[0].value.value, str)):
        docstrings.update(range(body[0].lineno, body[0].end_lineno + 1))
  lines = {}
  for token in tokenize.generate_tokens(io.StringIO(source).readline):
    if token.type == tokenize.COMMENT or token.start[0] in docstrings:
      continue
    for i, text in enumerate(token.string.split("\n")):
      lines[token.start[0] + i] = lines.get(token.start[0] + i, "") + " " + text
  return lines


def test_code_layering_names_no_task_or_model():
  paths = sorted({p for pattern in LAYERED for p in glob.glob(os.path.join(ROOT, pattern))}
                 - {os.path.join(ROOT, p) for p in PEERS})
  assert os.path.join(ROOT, "s2s/train.py") in paths and len(paths) >= 6
  hits = []
  for path in paths:
    with open(path) as f:
      source = f.read()
    for line, code in sorted(code_lines(source).items()):
      if NAMED.search(CONFIG_PATH.sub("", code)):
        hits.append(f"{os.path.relpath(path, ROOT)}:{line}: {source.splitlines()[line - 1]}")
  assert not hits, "\n".join(hits)


def test_code_lines_sees_through_comments_and_docstrings():
  source = ('"""Usage: configs/arithmetic.py."""\n'
            'x = 1  # translation\n'
            'def f():\n  """EncoderDecoder."""\n  return "arithmetic"\n')
  assert [n for n, code in code_lines(source).items() if NAMED.search(code)] == [5]
