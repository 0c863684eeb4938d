"""Arithmetic questions: exact answers, parsing, operand recipe, de-duplication, splits, errors."""

import collections
import hashlib
import itertools
import json
import random
import re

import pytest

from s2s import arithmetic
from s2s.arithmetic import ArithmeticTask
from s2s.errors import UserError

OPS = ("+", "-", "*", "+-*")
TERMS = (2, 3, 4)
ALL_TASKS = [ArithmeticTask(digits=2, ops=ops, num_terms=n, parentheses=p)
             for ops in OPS for n in TERMS for p in (False, True)]


def task_id(task):
  return f"{task.ops}-t{task.num_terms}-{'paren' if task.parentheses else 'flat'}"


def leaves(tree):
  if isinstance(tree, int):
    return [tree]
  return leaves(tree[1]) + leaves(tree[2])


def operands(query):
  return [int(x) for x in re.findall(r"\d+", query)]


def swapped(tree):
  """Every + and * in the tree with its operands swapped."""
  if isinstance(tree, int):
    return tree
  op, left, right = tree
  left, right = swapped(left), swapped(right)
  return (op, right, left) if op in "+*" else (op, left, right)


def make(task, **kwargs):
  args = dict(num_examples=300, val_fraction=0.1, num_test=50, seed=0)
  args.update(kwargs)
  return arithmetic.make_splits(task, **args)


# Answers.


@pytest.mark.parametrize("task", ALL_TASKS, ids=task_id)
def test_every_answer_is_what_python_computes(task):
  splits = make(task, num_examples=150, num_test=30)
  pairs = [pair for split in splits.values() for pair in split]
  assert len(pairs) == 180
  for query, answer in pairs:
    assert answer == str(eval(query)), query  # pylint: disable=eval-used


@pytest.mark.parametrize("task", ALL_TASKS, ids=task_id)
def test_random_trees_evaluate_like_python(task):
  rng = random.Random(1)
  for _ in range(100):
    tree = arithmetic.random_question(rng, task)
    query = arithmetic.render(tree, task.parentheses)
    assert arithmetic.evaluate(tree) == eval(query), query  # pylint: disable=eval-used
    assert len(leaves(tree)) == task.num_terms
    assert set(re.sub(r"\d", "", query)) <= set(task.ops + "()")


def test_evaluate_follows_precedence_and_left_associativity():
  assert arithmetic.evaluate(arithmetic.parse("2+3*4")) == 14
  assert arithmetic.evaluate(arithmetic.parse("10-3-2")) == 5
  assert arithmetic.evaluate(arithmetic.parse("10-(3-2)")) == 9
  assert arithmetic.evaluate(arithmetic.parse("2*3-4*5")) == -14


@pytest.mark.parametrize("num_terms", TERMS)
def test_subtraction_gives_negative_answers(num_terms):
  splits = make(ArithmeticTask(digits=2, ops="-", num_terms=num_terms))
  answers = [a for _, a in splits["train"]]
  negatives = [a for a in answers if a.startswith("-")]
  # Roughly half of a - b are negative; far fewer would mean the sign is dropped.
  assert len(negatives) > len(answers) // 5
  assert all(re.fullmatch(r"-?\d+", a) for a in answers)


def test_only_subtraction_makes_negative_answers():
  for ops in ("+", "*"):
    splits = make(ArithmeticTask(digits=2, ops=ops, num_terms=3))
    assert not any(a.startswith("-") for split in splits.values() for _, a in split)


# Parentheses.


@pytest.mark.parametrize("ops", OPS)
@pytest.mark.parametrize("num_terms", (3, 4))
def test_parentheses_appear_and_change_values(ops, num_terms):
  task = ArithmeticTask(digits=2, ops=ops, num_terms=num_terms, parentheses=True)
  queries = [q for q, _ in make(task)["train"]]
  # Every tree over >= 3 operands has a compound operand, and each one is bracketed.
  assert all("(" in q and ")" in q for q in queries)
  assert all(q.count("(") == num_terms - 2 for q in queries)
  if ops in ("+", "*"):
    return  # Associative: brackets never change the value.
  flat_differs = [q for q in queries
                  if eval(q) != eval(q.replace("(", "").replace(")", ""))]  # pylint: disable=eval-used
  assert len(flat_differs) > len(queries) // 10


@pytest.mark.parametrize("ops", OPS)
def test_no_parentheses_without_the_option_or_with_two_terms(ops):
  for task in (ArithmeticTask(digits=2, ops=ops, num_terms=3, parentheses=False),
               ArithmeticTask(digits=2, ops=ops, num_terms=2, parentheses=True)):
    queries = [q for split in make(task).values() for q, _ in split]
    assert not any("(" in q or ")" in q for q in queries)


def test_flat_questions_mix_operators_with_precedence():
  task = ArithmeticTask(digits=2, ops="+-*", num_terms=4)
  queries = [q for q, _ in make(task)["train"]]
  # Some flat questions are read differently with Python's precedence than left to right.
  def left_to_right(q):
    tokens = re.findall(r"\d+|[-+*]", q)
    value = int(tokens[0])
    for op, x in zip(tokens[1::2], tokens[2::2]):
      value = value + int(x) if op == "+" else value - int(x) if op == "-" else value * int(x)
    return value
  assert any(left_to_right(q) != eval(q) for q in queries)  # pylint: disable=eval-used
  assert all(set(q) - set("0123456789") <= set("+-*") for q in queries)
  assert {op for q in queries for op in q if op in "+-*"} == {"+", "-", "*"}


# parse / render.


@pytest.mark.parametrize("task", ALL_TASKS, ids=task_id)
def test_parse_render_round_trip(task):
  rng = random.Random(2)
  for _ in range(100):
    tree = arithmetic.random_question(rng, task)
    text = arithmetic.render(tree, task.parentheses)
    assert arithmetic.parse(text) == tree, text
    assert arithmetic.render(arithmetic.parse(text), task.parentheses) == text


def test_render_brackets_compound_operands_only_with_parentheses():
  tree = ("-", ("+", 1, 2), ("*", 3, 45))
  assert arithmetic.render(tree, True) == "(1+2)-(3*45)"
  assert arithmetic.render(tree, False) == "1+2-3*45"
  assert arithmetic.parse("(1+2)-(3*45)") == tree
  assert arithmetic.parse("1+2-3*45") == ("-", ("+", 1, 2), ("*", 3, 45))
  assert arithmetic.parse("1-(2-3)") == ("-", 1, ("-", 2, 3))


@pytest.mark.parametrize("text", ["", "1+", "(1+2", "1+2)", "1/2", "a", "+1"])
def test_parse_rejects_malformed_text(text):
  with pytest.raises(ValueError):
    arithmetic.parse(text)


# Operands.


@pytest.mark.parametrize("digits", (1, 2, 3))
def test_operands_follow_the_keras_recipe(digits):
  """Length uniform in 1..digits, then uniform digits: P(k digits) as computed below."""
  task = ArithmeticTask(digits=digits, ops="+", num_terms=2)
  rng = random.Random(3)
  xs = [x for _ in range(3000) for x in leaves(arithmetic.random_question(rng, task))]
  assert min(xs) >= 0
  assert max(xs) < 10**digits
  counts = collections.Counter(len(str(x)) for x in xs)
  assert set(counts) == set(range(1, digits + 1))
  # A length-L draw has k significant digits with probability 0.9 * 0.1**(L-k) (k >= 2),
  # and one digit with probability 0.1**(L-1).
  for k in range(1, digits + 1):
    p = sum((0.9 * 0.1**(length - k) if k >= 2 else 0.1**(length - 1))
            for length in range(k, digits + 1)) / digits
    assert counts[k] / len(xs) == pytest.approx(p, abs=0.03), (k, counts)


def test_max_digits_and_min_longest_bound_operand_lengths():
  task = ArithmeticTask(digits=2, ops="+-", num_terms=3)
  rng = random.Random(4)
  for _ in range(300):
    tree = arithmetic.random_question(rng, task, max_digits=4, min_longest=3)
    lengths = [len(str(x)) for x in leaves(tree)]
    assert max(lengths) in (3, 4)


# De-duplication.


def test_canonical_identifies_commutative_swaps_only():
  c = arithmetic.canonical
  assert c(("+", 12, 345)) == c(("+", 345, 12))
  assert c(("*", 12, 345)) == c(("*", 345, 12))
  assert c(("-", 12, 345)) != c(("-", 345, 12))
  assert c(("+", 12, 345)) != c(("*", 12, 345))
  assert c(("+", 1, 2)) != c(("+", 1, 3))
  # Nested: swaps anywhere in the tree, but not across a subtraction.
  assert c(("*", ("+", 1, 2), 3)) == c(("*", 3, ("+", 2, 1)))
  assert c(("+", ("-", 1, 2), 3)) == c(("+", 3, ("-", 1, 2)))
  assert c(("+", ("-", 1, 2), 3)) != c(("+", ("-", 2, 1), 3))
  assert c(("-", ("+", 1, 2), 3)) == c(("-", ("+", 2, 1), 3))
  assert c(("-", ("+", 1, 2), 3)) != c(("-", 3, ("+", 1, 2)))


@pytest.mark.parametrize("task", ALL_TASKS, ids=task_id)
def test_canonical_is_invariant_under_swapping_every_commutative_node(task):
  rng = random.Random(5)
  for _ in range(100):
    tree = arithmetic.random_question(rng, task)
    assert arithmetic.canonical(swapped(tree)) == arithmetic.canonical(tree)
    assert arithmetic.evaluate(swapped(tree)) == arithmetic.evaluate(tree)


# Splits.


@pytest.mark.parametrize("num_examples,val_fraction,num_test,lg", [
    (1000, 0.1, 50, 0), (333, 0.15, 0, 20), (10, 0.5, 7, 3), (301, 0.2, 1, 0)])
def test_make_splits_sizes(num_examples, val_fraction, num_test, lg):
  task = ArithmeticTask(digits=3, ops="+-", num_terms=2)
  splits = arithmetic.make_splits(task, num_examples=num_examples, val_fraction=val_fraction,
                                  num_test=num_test, num_length_generalization=lg,
                                  length_generalization_digits=5, seed=0)
  num_val = round(num_examples * val_fraction)
  assert len(splits["train"]) == num_examples - num_val
  assert len(splits["validation"]) == num_val
  assert len(splits["test"]) == num_test
  if lg:
    assert len(splits["length_generalization"]) == lg
  else:
    assert "length_generalization" not in splits


@pytest.mark.parametrize("task", [
    ArithmeticTask(digits=2, ops="+", num_terms=2),
    ArithmeticTask(digits=1, ops="+*", num_terms=3, parentheses=True),
    ArithmeticTask(digits=1, ops="+-*", num_terms=3),
], ids=task_id)
def test_splits_are_disjoint_by_string_and_by_commutative_equivalence(task):
  # Sizes close to the number of distinct questions, so that without de-duplication
  # both repeats and swapped repeats would be all but certain.
  splits = arithmetic.make_splits(task, num_examples=1500, val_fraction=0.2, num_test=300,
                                  num_length_generalization=100,
                                  length_generalization_digits=task.digits + 1, seed=7)
  strings = {name: [q for q, _ in pairs] for name, pairs in splits.items()}
  keys = {name: [arithmetic.canonical(arithmetic.parse(q)) for q in qs]
          for name, qs in strings.items()}
  for name in splits:
    assert len(set(strings[name])) == len(strings[name]), f"repeated question in {name}"
    assert len(set(keys[name])) == len(keys[name]), f"swapped repeat in {name}"
  for a, b in itertools.combinations(splits, 2):
    assert not set(strings[a]) & set(strings[b]), (a, b)
    assert not set(keys[a]) & set(keys[b]), (a, b)
  if task.num_terms == 2:
    train = set(strings["train"])
    for q in strings["test"] + strings["validation"]:
      x, y = q.split("+")
      assert f"{y}+{x}" not in train or x == y


def test_subtraction_keeps_both_orders_as_different_questions():
  # Only 100 distinct a-b exist for digits=1; all of them can be drawn.
  task = ArithmeticTask(digits=1, ops="-", num_terms=2)
  splits = arithmetic.make_splits(task, num_examples=90, val_fraction=0.1, num_test=10)
  queries = {q for pairs in splits.values() for q, _ in pairs}
  assert queries == {f"{a}-{b}" for a in range(10) for b in range(10)}


def test_splits_share_one_distribution_when_questions_run_short():
  # 4000 of the 5050 distinct questions: late draws are mostly two-digit operands, so
  # cutting the splits in drawing order would make validation and test harder than train.
  task = ArithmeticTask(digits=2, ops="+", num_terms=2)
  splits = arithmetic.make_splits(task, num_examples=3000, val_fraction=0.2, num_test=1000)
  mean_length = {name: sum(len(str(x)) for q, _ in pairs for x in operands(q)) / (2 * len(pairs))
                 for name, pairs in splits.items()}
  assert mean_length["validation"] == pytest.approx(mean_length["train"], abs=0.04)
  assert mean_length["test"] == pytest.approx(mean_length["train"], abs=0.04)


def test_length_generalization_questions_are_longer_than_training():
  task = ArithmeticTask(digits=2, ops="+-*", num_terms=3, parentheses=True)
  splits = make(task, num_length_generalization=200, length_generalization_digits=4)
  for query, answer in splits["length_generalization"]:
    lengths = [len(str(x)) for x in operands(query)]
    assert max(lengths) > task.digits, query
    assert max(lengths) <= 4, query
    assert answer == str(eval(query))  # pylint: disable=eval-used
  for name in ("train", "validation", "test"):
    for query, _ in splits[name]:
      assert max(len(str(x)) for x in operands(query)) <= task.digits, query


def test_length_generalization_digits_must_exceed_digits():
  with pytest.raises(UserError, match="length_generalization_digits"):
    make(ArithmeticTask(digits=3), num_length_generalization=10,
         length_generalization_digits=3)


def test_make_splits_is_deterministic_in_its_seed():
  task = ArithmeticTask(digits=3, ops="+-*", num_terms=3, parentheses=True)
  kwargs = dict(num_length_generalization=20, length_generalization_digits=4)
  assert make(task, seed=11, **kwargs) == make(task, seed=11, **kwargs)
  first, other = make(task, seed=11, **kwargs), make(task, seed=12, **kwargs)
  for name in first:
    assert first[name] != other[name], name


def test_make_splits_does_not_depend_on_global_random_state():
  task = ArithmeticTask(digits=3)
  random.seed(1)
  first = make(task)
  random.seed(2)
  assert make(task) == first


def test_asking_for_more_questions_than_exist_is_a_user_error():
  # digits=1, "+": only 55 distinct questions (a+b ~ b+a).
  with pytest.raises(UserError, match=r"distinct.*200.*fewer examples") as info:
    arithmetic.make_splits(ArithmeticTask(digits=1, ops="+"), num_examples=200,
                           val_fraction=0.1, num_test=0)
  assert "digits=1" in str(info.value)


def test_exactly_all_questions_can_be_drawn():
  splits = arithmetic.make_splits(ArithmeticTask(digits=1, ops="+"), num_examples=50,
                                  val_fraction=0.1, num_test=5)
  keys = {arithmetic.canonical(arithmetic.parse(q)) for pairs in splits.values() for q, _ in pairs}
  assert len(keys) == 55


@pytest.mark.parametrize("kwargs,field", [
    (dict(num_examples=0), "num_examples"),
    (dict(val_fraction=0.0), "val_fraction"),
    (dict(val_fraction=1.0), "val_fraction"),
    (dict(num_examples=3, val_fraction=0.1), "val_fraction"),
])
def test_make_splits_rejects_bad_sizes(kwargs, field):
  with pytest.raises(UserError, match=field):
    make(ArithmeticTask(), **kwargs)


# Task validation.


@pytest.mark.parametrize("kwargs,pattern", [
    (dict(digits=0), "digits"),
    (dict(digits=-2), "digits"),
    (dict(digits=2.0), "digits"),
    (dict(ops="/"), "'/'"),
    (dict(ops="+/"), "'/'"),
    (dict(ops="+x"), "'x'"),
    (dict(ops=""), "ops"),
    (dict(num_terms=1), "num_terms"),
    (dict(num_terms=0), "num_terms"),
])
def test_task_rejects_bad_values(kwargs, pattern):
  with pytest.raises(UserError, match=pattern):
    ArithmeticTask(**kwargs)


def test_task_chars_cover_every_generated_character():
  for task in ALL_TASKS:
    splits = make(task, num_examples=100, num_test=0,
                  num_length_generalization=10, length_generalization_digits=3)
    text = "".join(q + a for pairs in splits.values() for q, a in pairs)
    allowed = set(task.chars) | {"-"}  # The sign of a negative answer.
    assert set(text) <= allowed
    if "-" in text:
      assert "-" in task.chars, task


# Length bounds.


def extreme_trees(task, digits):
  """Every tree shape and operator choice over operands 0 and 10**digits - 1."""
  def shapes(xs):
    if len(xs) == 1:
      yield xs[0]
      return
    for k in range(1, len(xs)):
      for left in shapes(xs[:k]):
        for right in shapes(xs[k:]):
          for op in task.ops:
            yield (op, left, right)

  big = 10**digits - 1
  for xs in itertools.product((0, big), repeat=task.num_terms):
    if task.parentheses:
      yield from shapes(list(xs))
    else:
      for ops in itertools.product(task.ops, repeat=task.num_terms - 1):
        text = str(xs[0]) + "".join(op + str(x) for op, x in zip(ops, xs[1:]))
        yield arithmetic.parse(text)


@pytest.mark.parametrize("task", ALL_TASKS, ids=task_id)
def test_max_lengths_bound_every_question_and_answer(task):
  for digits in (task.digits, task.digits + 2):
    max_q = task.max_query_length(digits)
    max_a = task.max_answer_length(digits)
    query_lengths = []
    for tree in extreme_trees(task, digits):
      query = arithmetic.render(tree, task.parentheses)
      query_lengths.append(len(query))
      assert len(str(arithmetic.evaluate(tree))) <= max_a, query
    assert max(query_lengths) == max_q
  splits = make(task, num_examples=200, num_test=0, num_length_generalization=50,
                length_generalization_digits=task.digits + 2)
  for name, pairs in splits.items():
    digits = task.digits + 2 if name == "length_generalization" else None
    for query, answer in pairs:
      assert len(query) <= task.max_query_length(digits), query
      assert len(answer) <= task.max_answer_length(digits), (query, answer)


def test_max_lengths_default_to_task_digits():
  task = ArithmeticTask(digits=3, ops="*-", num_terms=3, parentheses=True)
  assert task.max_query_length() == task.max_query_length(3) == 3 * 3 + 2 + 2
  assert len(str(999 * 999 * 999)) + 1 <= task.max_answer_length()
  assert len(str(-999 * 999 * 999)) <= task.max_answer_length()


@pytest.mark.parametrize("task, num_examples, num_test, seed, digest", [
    # The Keras task as configs/addition.py makes it: the data of experiments/.
    (arithmetic.ArithmeticTask(), 50_000, 5_000, 0,
     "04c71623266ca018f320c60297af3cfdbacc0c7297cadcc9a01f06be9ff7f04b"),
    (arithmetic.ArithmeticTask(digits=2, ops="+-*", num_terms=3, parentheses=True), 3_000, 300,
     1, "4380a87daad72a613a287f8f1297c8f8f6c9b7aae95d2d55bc8ba540c048d2e0"),
])
def test_splits_are_the_ones_published_results_were_measured_on(task, num_examples, num_test,
                                                                 seed, digest):
  """A seed names the same questions in every version, so committed tables can be rerun."""
  splits = arithmetic.make_splits(task, num_examples=num_examples, val_fraction=0.1,
                                  num_test=num_test, seed=seed)
  text = json.dumps(splits, sort_keys=True).encode()
  assert hashlib.sha256(text).hexdigest() == digest
