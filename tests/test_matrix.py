"""Every task x model x attention x cell x direction the config allows trains, evaluates
(beam search and attention plots included) and predicts: 16 tiny runs per task, in-process."""

import itertools
import os

import numpy as np
import pytest

from conftest import read_metrics
from test_translation import synthetic_pairs
from s2s import sweeps
from s2s import train
from s2s.errors import UserError
from s2s.predict import Predictor

# (model, attention): the repeat model has no attention.
MODELS = [("repeat", "none"), ("encoder_decoder", "none"), ("encoder_decoder", "bahdanau"),
          ("encoder_decoder", "luong")]
CASES = [(task, model, attention, cell, bidirectional)
         for task, (model, attention), cell, bidirectional in itertools.product(
             ("arithmetic", "translation"), MODELS, ("lstm", "gru"), (False, True))]
STEPS = 3
PLOTS = 2


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
  """100 pairs of test_translation's toy English -> French grammar."""
  path = tmp_path_factory.mktemp("matrix_corpus") / "pairs.txt"
  path.write_text("".join(f"{en}\t{fr}\n" for en, fr in synthetic_pairs(100)))
  return str(path)


def tiny_config(task, model, attention, cell, bidirectional, data_dir, corpus):
  if task == "arithmetic":  # 180 train, 20 validation, 20 test questions; queries reversed.
    config_arg = "configs/addition.py:digits=2,num_examples=200"
    queries = ["12+3", "7+45"]
  else:
    config_arg = (f"configs/translation.py:corpus=tsv,path={corpus},max_chars=0,"
                  f"tokenizer=char,attention={attention}")
    queries = ["red cat", "big dog and small tree"]
  overrides = {
      "data_dir": data_dir, "model.name": model, "model.attention": attention,
      "model.cell": cell, "model.bidirectional": bidirectional, "model.hidden_size": 8,
      "model.embed_dim": 0 if task == "arithmetic" else 8, "model.dropout": 0.1,
      "batch_size": 8, "num_steps": STEPS, "steps_per_dispatch": 2, "log_every_steps": STEPS,
      "eval_batch_size": 10, "num_samples": 1, "num_attention_plots": PLOTS,
      "beam_size": 2 if model == "encoder_decoder" else 0, "warmup_steps": 0}
  if task == "arithmetic":
    # Without the final check of all 10,000 1-2 digit sums (test_slices and test_tasks run it):
    # greedy and beam search over it were a third of each case's time.
    overrides["task.check_small_operands"] = False
  if task == "translation":  # About 20 validation and 20 test pairs.
    overrides |= {"task.val_fraction": 0.2, "task.test_fraction": 0.2}
  return sweeps.resolve_config(config_arg, overrides), queries


def case_id(case):
  task, model, attention, cell, bidirectional = case
  name = model if attention == "none" else f"{model}-{attention}"
  return f"{task}-{name}-{cell}-{'bi' if bidirectional else 'uni'}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_trains_evaluates_and_predicts(case, tmp_path, data_dir, corpus):
  task, model, attention, cell, bidirectional = case
  config, queries = tiny_config(*case, data_dir, corpus)
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(config, workdir)

  events = read_metrics(workdir)
  test = [e for e in events if e["split"] == "test"]
  assert [e["step"] for e in test] == [STEPS]
  assert np.isfinite(test[0]["loss"])
  assert ("sequence_accuracy_beam2" in test[0]) == (model == "encoder_decoder")
  plots = os.path.join(workdir, "attention")
  if attention == "none":
    assert not os.path.exists(plots)
  else:
    assert sorted(os.listdir(plots)) == [f"validation_{i}.png" for i in range(PLOTS)]

  predictor = Predictor(workdir)
  answers = predictor(queries)
  assert len(answers) == len(queries) and all(isinstance(a, str) for a in answers)
  if attention == "none":
    with pytest.raises(UserError, match="--plot_attention needs a model trained with attention"):
      predictor.plot_attention(queries, str(tmp_path / "plots"))
  else:
    paths = predictor.plot_attention(queries, str(tmp_path / "plots"))
    assert [os.path.basename(p) for p in paths] == ["query_1.png", "query_2.png"]
    assert all(os.path.getsize(p) > 0 for p in paths)


def test_the_matrix_is_every_combination_the_config_allows():
  assert len(CASES) == 32
  assert len({case_id(c) for c in CASES}) == 32
  assert not any(model == "repeat" and attention != "none"
                 for _, model, attention, _, _ in CASES)
