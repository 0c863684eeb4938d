"""Accuracy by slice: each question's labels, counts on hand-built splits, the events a run
writes, the small-operand check, and the samplers."""

import collections
import os
import random

import numpy as np
import pytest

from s2s import arithmetic
from s2s import config as config_lib
from s2s import evaluation
from s2s import reporting
from s2s import sweeps
from s2s.tasks import arithmetic as arithmetic_task

from conftest import ROOT, TINY, read_metrics, train_cli


@pytest.mark.parametrize("query, expected", [
    ("12+345", {"operand_digits": "2,3", "longest_operand": "3", "carries": "0",
                "answer_length": "3", "operator": "+", "terms": "2", "parentheses": "no"}),
    ("999+1", {"operand_digits": "3,1", "longest_operand": "3", "carries": "3",
               "answer_length": "4", "operator": "+", "terms": "2", "parentheses": "no"}),
    ("1000-1", {"operand_digits": "4,1", "longest_operand": "4", "carries": "3",
                "answer_length": "3", "operator": "-", "terms": "2", "parentheses": "no"}),
    ("12-345", {"operand_digits": "2,3", "longest_operand": "3", "carries": "0",
                "answer_length": "4", "operator": "-", "terms": "2", "parentheses": "no"}),
    ("15-7", {"operand_digits": "2,1", "longest_operand": "2", "carries": "1",
              "answer_length": "1", "operator": "-", "terms": "2", "parentheses": "no"}),
    ("(5+7)*(8-19)", {"operand_digits": "1,1,1,2", "longest_operand": "2", "carries": "1",
                      "answer_length": "4", "operator": "+-*", "terms": "4",
                      "parentheses": "yes"}),
])
def test_slice_labels_of_hand_checked_questions(query, expected):
  # (5+7): one carry; (8-19) = -(19-8): no borrow; the product adds none. 12*-11 = -132.
  assert arithmetic.slice_labels(query) == expected


def test_carries_count_adding_values_of_opposite_signs_as_a_subtraction():
  assert arithmetic.carries(arithmetic.parse("5-9")) == 0  # -(9-5): no borrow.
  # 1-5 = -(5-1): no borrow; then -4-8 = -(4+8): one carry.
  assert arithmetic.carries(arithmetic.parse("(1-5)-8")) == 1
  assert arithmetic.carries(arithmetic.parse("(10-1)+(10-1)")) == 1 + 1 + 1  # 2 borrows, 9+9.
  assert arithmetic.carries(arithmetic.parse("99*99")) == 0


def test_slices_count_a_hand_built_split_exactly():
  queries = ["1+1", "9+9", "12+5", "99+1", "5+12", "3+4"]
  right = [True, False, True, False, True, True]
  index = evaluation.slice_index([arithmetic.slice_labels(q) for q in queries])
  slices = evaluation.slices(index, right)
  assert list(slices["operand_digits"]) == ["1,1", "1,2", "2,1"]
  assert slices["operand_digits"]["1,1"] == {"count": 3, "sequence_accuracy": 2 / 3}
  assert slices["operand_digits"]["1,2"] == {"count": 1, "sequence_accuracy": 1.0}
  assert slices["operand_digits"]["2,1"] == {"count": 2, "sequence_accuracy": 0.5}
  assert slices["carries"] == {"0": {"count": 4, "sequence_accuracy": 1.0},
                               "1": {"count": 1, "sequence_accuracy": 0.0},
                               "2": {"count": 1, "sequence_accuracy": 0.0}}
  assert slices["answer_length"] == {"1": {"count": 2, "sequence_accuracy": 1.0},
                                     "2": {"count": 3, "sequence_accuracy": 2 / 3},
                                     "3": {"count": 1, "sequence_accuracy": 0.0}}
  assert slices["terms"] == {"2": {"count": 6, "sequence_accuracy": 4 / 6}}
  # Labels sort as numbers: "10" after "9", "1,10" after "1,9".
  index = evaluation.slice_index([{"f": x} for x in ["10", "9", "1,10", "1,9", "-1"]])
  assert index["f"][0] == ["-1", "1,9", "1,10", "9", "10"]


def test_small_operand_questions_are_the_whole_space_both_orders():
  grammar = arithmetic.ArithmeticTask(digits=3, ops="+-")
  pairs = arithmetic.small_operand_questions(grammar)
  assert len(pairs) == 2 * 100 * 100
  assert ("7+98", "105") in pairs and ("98+7", "105") in pairs and ("7-98", "-91") in pairs
  assert len(arithmetic.small_operand_questions(arithmetic.ArithmeticTask(digits=1))) == 100
  assert arithmetic.small_operand_questions(arithmetic.ArithmeticTask(num_terms=3)) == []


def _lengths(sampler, n=6000, digits=3):
  rng = random.Random(0)
  grammar = arithmetic.ArithmeticTask(digits=digits)
  trees = [arithmetic.random_question(rng, grammar, sampler=sampler) for _ in range(n)]
  return collections.Counter((len(str(t[1])), len(str(t[2]))) for t in trees)


def test_samplers_draw_the_operand_lengths_they_promise():
  n = 6000
  balanced = _lengths("balanced", n)
  assert set(balanced) == {(a, b) for a in (1, 2, 3) for b in (1, 2, 3)}
  for count in balanced.values():  # 9 combinations, each 1/9: within 5 standard deviations.
    assert abs(count - n / 9) < 5 * np.sqrt(n / 9 * 8 / 9)
  uniform = _lengths("uniform", n)  # 900 of 1000 values have 3 digits: (3, 3) is 81%.
  assert abs(uniform[(3, 3)] / n - 0.81) < 0.03
  keras = _lengths("keras", n)  # A length uniform in 1..3, leading zeros shorten some.
  assert abs(sum(c for (a, _), c in keras.items() if a == 1) / n - (1 / 3 + 1 / 30 + 1 / 300)) \
      < 0.03


def test_the_levels_sampler_draws_every_longest_operand_length_equally():
  rng = random.Random(0)
  grammar = arithmetic.ArithmeticTask(digits=4)
  n = 4000
  longest = collections.Counter(
      int(arithmetic.slice_labels(arithmetic.render(
          arithmetic.random_question(rng, grammar, sampler="levels"), False))["longest_operand"])
      for _ in range(n))
  assert set(longest) == {1, 2, 3, 4}
  for count in longest.values():
    assert abs(count - n / 4) < 5 * np.sqrt(n / 4 * 3 / 4)
  # With a minimum (the length-generalization split), the levels start there.
  tree = arithmetic.random_question(rng, grammar, max_digits=6, min_longest=5, sampler="levels")
  assert max(len(str(x)) for x in (tree[1], tree[2])) in (5, 6)


def test_the_levels_sampler_leaves_half_of_a_small_level_to_training():
  grammar = arithmetic.ArithmeticTask(digits=3, ops="+-")
  # One-digit operands: 55 sums (up to order) and 100 differences.
  assert arithmetic._level_space(grammar, 1) == 155  # pylint: disable=protected-access
  splits = arithmetic.make_splits(grammar, num_examples=2000, val_fraction=0.5, num_test=2000,
                                  sampler="levels")
  level_one = [q for pairs in splits.values() for q, _ in pairs
               if arithmetic.slice_labels(q)["longest_operand"] == "1"]
  assert len(level_one) == 155 // 2


def test_a_sampler_is_part_of_the_dataset_name_and_keras_names_stay():
  c = config_lib.base_config()
  assert arithmetic_task.builder(c.task).builder_config.name == "d3_add_t2_n50000_v0.1_test5000_s0"
  c.task.sampler = "balanced"
  assert (arithmetic_task.builder(c.task).builder_config.name
          == "d3_add_t2_n50000_v0.1_test5000_balanced_s0")


def test_a_run_reports_slices_that_add_up_to_its_metrics(tmp_path, data_dir):
  workdir = tmp_path / "run"
  result = train_cli(workdir, data_dir, "--config.num_steps=60", "--config.eval_every_steps=30",
                     "--config.task.check_small_operands=True", "--config.num_samples=0")
  assert result.returncode == 0, result.stderr
  events = read_metrics(workdir)
  evaluated = [e for e in events if e["split"] != "train"]
  assert [e["split"] for e in evaluated] == ["validation", "validation", "test",
                                             "small_operands"]
  sources = arithmetic_task.load(_task_config(data_dir), data_dir)
  for event in evaluated:
    for family, labels in event["slices"].items():
      # Every example in exactly one label; the labels' accuracies average to the split's.
      total = sum(row["count"] for row in labels.values())
      right = sum(row["count"] * row["sequence_accuracy"] for row in labels.values())
      size = (len(sources[event["split"]]) if event["split"] in sources else 100 * 100)
      assert total == size, (event["split"], family)
      assert right / total == pytest.approx(event["sequence_accuracy"], abs=1e-9)
  # The test split's operand-length counts are those of its questions.
  queries = [arithmetic_task.Task.texts(r)[0]
             for r in sources["test"].__getitems__(list(range(len(sources["test"]))))]
  expected = collections.Counter(arithmetic.slice_labels(q)["operand_digits"] for q in queries)
  test = [e for e in evaluated if e["split"] == "test"][0]
  assert {k: v["count"] for k, v in test["slices"]["operand_digits"].items()} == expected
  small = [e for e in evaluated if e["split"] == "small_operands"][0]["slices"]
  assert {k: v["count"] for k, v in small["operand_digits"].items()} == {
      "1,1": 100, "1,2": 900, "2,1": 900, "2,2": 8100}
  assert "test sequence_accuracy by slice" in result.stdout
  assert "small_operands sequence_accuracy by slice" in result.stdout


def _task_config(data_dir):
  config_arg = TINY[0].split("=", 1)[1]  # configs/addition.py:digits=2,...
  return sweeps.resolve_config(os.path.join(ROOT, config_arg), {"data_dir": data_dir}).task


def test_the_end_of_run_table_shows_the_worst_labels_of_a_long_family():
  slices = {"carries": {str(i): {"count": 10, "sequence_accuracy": 1 - i / 20} for i in range(12)},
            "terms": {"2": {"count": 120, "sequence_accuracy": 0.7}}}
  table = reporting.slice_table("test", slices, rows=3)
  assert "terms" not in table  # One label: the split's own figure.
  line = [l for l in table.splitlines() if "carries" in l][0]
  assert "9 0.5500 (10)  10 0.5000 (10)  11 0.4500 (10)" in line
  assert "9 more" in line and " 8 " not in line
