"""s2s.predict answers questions of the task and refuses, in one line, anything else."""

import random

import numpy as np
import pytest

from conftest import assert_user_error, run_cli
from s2s import arithmetic
from s2s import sweeps
from s2s import train
from s2s import vocab as vocab_lib
from s2s.errors import UserError
from s2s.tasks import arithmetic as arithmetic_task

ADD = arithmetic.ArithmeticTask(digits=2, ops="+", num_terms=2)
MIXED = arithmetic.ArithmeticTask(digits=2, ops="+-*", num_terms=3, parentheses=True)


@pytest.mark.parametrize("task", [ADD, MIXED, arithmetic.ArithmeticTask(3, "-*", 4, False),
                                  arithmetic.ArithmeticTask(1, "+-*", 5, True)],
                         ids=lambda t: f"{t.ops}{t.num_terms}{'p' if t.parentheses else ''}")
def test_every_question_the_task_generates_is_accepted(task):
  rng = random.Random(0)
  for _ in range(200):
    for digits in (task.digits, task.digits + 2):  # Longer operands: length generalization.
      tree = arithmetic.random_question(rng, task, max_digits=digits)
      text = arithmetic.render(tree, task.parentheses)
      assert arithmetic.check_question(text, task) == tree


@pytest.mark.parametrize("task, query, why", [
    (ADD, "+", "expected a number at character 1 ('+')"),
    (ADD, "1+", "expected a number at the end"),
    (ADD, "++3", "expected a number at character 1 ('+')"),
    (ADD, "1+2+3", "it has 3 operands, and the task's questions have 2"),
    (ADD, "12", "it has 1 operand, and the task's questions have 2"),
    (ADD, "1*2", "it uses the operator '*', and the task's questions use only '+'"),
    (ADD, "(1+2)", "it has parentheses, and the task's questions have none"),
    (ADD, "1+2a", "it contains 'a', which no question of the task contains"),
    (ADD, "01+2", "the task writes this question as '1+2'"),
    (ADD, "", "expected a number at the end"),
    (MIXED, "1+2+3", "the task writes this question as '(1+2)+3'"),
    (MIXED, "((1+2))*3", "the task writes this question as '(1+2)*3'"),
    (MIXED, "(1+2)-(3)", "the task writes this question as '(1+2)-3'"),
    (MIXED, "(1+2", "missing ')' at the end"),
    (MIXED, "(1+2)*3)", "unexpected ')' at character 8"),
    (MIXED, "1+2", "it has 2 operands, and the task's questions have 3"),
])
def test_a_query_that_is_not_a_question_of_the_task_is_refused(task, query, why):
  with pytest.raises(UserError) as error:
    arithmetic.check_question(query, task)
  assert str(error.value) == f"the query {query!r} is not a question of this task: {why}"


def test_a_query_longer_than_the_model_takes_is_refused_before_its_grammar():
  with pytest.raises(UserError, match="it has 11 characters, more than the 7"):
    arithmetic.check_question("1+2+3+4+5+6", ADD, max_length=7)
  assert arithmetic.check_question("1234+567", ADD, max_length=8) == ("+", 1234, 567)


def arithmetic_task_of(grammar, reverse=True):
  vocab = vocab_lib.CharVocab(grammar.chars)
  return arithmetic_task.Task(vocab, vocab, grammar.max_query_length(),
                              grammar.max_answer_length() + 1, reverse, grammar)


def test_the_arithmetic_task_checks_queries_and_names_its_pieces():
  task = arithmetic_task_of(ADD)
  task.check_query("12+34")
  with pytest.raises(UserError, match="operands"):
    task.check_query("1+2+3")
  with pytest.raises(UserError, match="more than the 5"):
    task.check_query("123+45")
  # A user's query is normalized before it is checked: spaces are not part of a question.
  np.testing.assert_array_equal(task.parse_query(" 12 + 3 ")["inputs"],
                                task.encode_query("12+3")["inputs"])
  with pytest.raises(UserError, match="operands"):
    task.parse_query("1+2+3")
  assert task.source_pieces(task.encode_query("12+3")) == list("3+21")  # As fed: reversed.
  forward = arithmetic_task_of(ADD, reverse=False)
  assert forward.source_pieces(forward.encode_query("12+3")) == list("12+3")
  answer = np.array(task.target.encode("15") + [vocab_lib.EOS, vocab_lib.PAD], np.int32)
  assert task.target_pieces(answer) == ["1", "5", "<eos>"]
  assert task.target_pieces(answer[:2]) == ["1", "5"]  # No EOS predicted.


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, data_dir):
  """A 2-digit addition model trained for 2 steps: enough to answer, or to refuse."""
  config = sweeps.resolve_config("configs/addition.py:digits=2,num_examples=200", {
      "data_dir": data_dir, "model.hidden_size": 8, "num_steps": 2, "batch_size": 8,
      "eval_batch_size": 20, "num_samples": 0})
  path = tmp_path_factory.mktemp("predict_queries") / "run"
  train.train_and_evaluate(config, str(path))
  return path


def test_questions_are_answered_and_anything_else_is_refused(workdir):
  result = run_cli("s2s.predict", [f"--workdir={workdir}", "12+34", "7 + 8"])
  assert result.returncode == 0, result.stderr
  assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["12+34", "7 + 8"]
  for query, why in [("+", "expected a number"), ("1+", "at the end"), ("++3", "character 1"),
                     ("1+2+3", "3 operands"), ("1*2", "operator '*'"),
                     ("(1+2)", "parentheses")]:
    result = run_cli("s2s.predict", [f"--workdir={workdir}", "12+34", query])
    assert_user_error(result, f"the query {query!r} is not a question of this task", why)
    assert result.stdout == ""  # Refused before any query was answered.


def test_workdir_missing_or_not_a_directory(tmp_path):
  assert_user_error(run_cli("s2s.predict", [f"--workdir={tmp_path / 'x'}", "1+2"]),
                    f"--workdir {str(tmp_path / 'x')!r} does not exist")
  (tmp_path / "file").write_text("")
  assert_user_error(run_cli("s2s.predict", [f"--workdir={tmp_path / 'file'}", "1+2"]),
                    f"--workdir {str(tmp_path / 'file')!r} is not a directory")
  assert_user_error(run_cli("s2s.predict", ["1+2"]), "--workdir is required")
