"""Arithmetic questions as strings: generation, exact answers, de-duplication, splits.

A question is an expression tree: a leaf is a non-negative int, a node is
`(op, left, right)`. Operands are drawn as in the Keras addition_rnn recipe: a
length uniform in 1..digits, then that many digits uniform in 0-9 (so leading
zeros shorten some operands). Answers are computed with Python ints, so they are
exact and may be negative.

Two questions are the same question when one becomes the other by swapping the
operands of `+` or `*` somewhere in its tree (`12+345` ~ `345+12`); `-` is not
commutative, so `12-345` and `345-12` are different questions.
"""

import dataclasses
import random
from typing import Union

from s2s.errors import UserError

OPERATORS = "+-*"
_PRECEDENCE = {"+": 1, "-": 1, "*": 2}
_COMMUTATIVE = {"+", "*"}

Tree = Union[int, tuple]  # int | (op, Tree, Tree)


@dataclasses.dataclass(frozen=True)
class ArithmeticTask:
  """What questions look like; the config's `task` fields of the same names."""
  digits: int = 3
  ops: str = "+"
  num_terms: int = 2
  parentheses: bool = False

  def __post_init__(self):
    if not isinstance(self.digits, int) or self.digits <= 0:
      raise UserError(f"config.task.digits must be a positive integer, got {self.digits!r}")
    if not self.ops:
      raise UserError("config.task.ops must name at least one operator out of '+-*'")
    for op in self.ops:
      if op not in OPERATORS:
        raise UserError(
            f"config.task.ops contains the unknown operator {op!r} (allowed: '+', '-', '*')")
    if not isinstance(self.num_terms, int) or self.num_terms < 2:
      raise UserError(f"config.task.num_terms must be an integer >= 2, got {self.num_terms!r}")

  @property
  def chars(self) -> str:
    """Every character a query or an answer can contain."""
    ops = "".join(op for op in OPERATORS if op in self.ops)
    return "0123456789" + ops + ("()" if self.parentheses else "")

  def max_query_length(self, digits: int | None = None) -> int:
    d = digits or self.digits
    parens = 2 * (self.num_terms - 2) if self.parentheses else 0
    return self.num_terms * d + (self.num_terms - 1) + parens

  def max_answer_length(self, digits: int | None = None) -> int:
    """An upper bound on len(answer), sign included."""
    largest = 10**(digits or self.digits) - 1
    # bound[n]: the largest |value| of any expression over n operands.
    bound = [0, largest]
    for n in range(2, self.num_terms + 1):
      bound.append(max(
          max(bound[k] + bound[n - k], bound[k] * bound[n - k] if "*" in self.ops else 0)
          for k in range(1, n)))
    return len(str(bound[-1])) + ("-" in self.ops)


def evaluate(tree: Tree) -> int:
  if isinstance(tree, int):
    return tree
  op, left, right = tree
  a, b = evaluate(left), evaluate(right)
  return a + b if op == "+" else a - b if op == "-" else a * b


def render(tree: Tree, parentheses: bool) -> str:
  """The question string; with `parentheses`, every compound operand is bracketed."""
  if isinstance(tree, int):
    return str(tree)
  op, left, right = tree

  def side(t):
    s = render(t, parentheses)
    return f"({s})" if parentheses and not isinstance(t, int) else s

  return side(left) + op + side(right)


def parse(text: str) -> Tree:
  """The tree of a question string (standard precedence, left associative)."""
  pos = 0

  def peek():
    return text[pos] if pos < len(text) else ""

  def operand():
    nonlocal pos
    if peek() == "(":
      pos += 1
      tree = expression(0)
      if peek() != ")":
        raise ValueError(f"missing ')' in {text!r}")
      pos += 1
      return tree
    start = pos
    while peek().isdigit():
      pos += 1
    if start == pos:
      raise ValueError(f"expected a number at position {start} of {text!r}")
    return int(text[start:pos])

  def expression(min_precedence):
    nonlocal pos
    left = operand()
    while peek() in _PRECEDENCE and _PRECEDENCE[peek()] > min_precedence:
      op = peek()
      pos += 1
      left = (op, left, expression(_PRECEDENCE[op]))
    return left

  tree = expression(0)
  if pos != len(text):
    raise ValueError(f"unexpected {text[pos]!r} at position {pos} of {text!r}")
  return tree


def canonical(tree: Tree):
  """A key equal for questions that differ only by swapping operands of + or *."""
  if isinstance(tree, int):
    return tree
  op, left, right = tree
  a, b = canonical(left), canonical(right)
  if op in _COMMUTATIVE and repr(b) < repr(a):
    a, b = b, a
  return (op, a, b)


def _operand(rng: random.Random, max_digits: int) -> int:
  length = rng.randint(1, max_digits)
  return int("".join(rng.choice("0123456789") for _ in range(length)))


def _random_tree(rng, operands, ops, parentheses) -> Tree:
  if not parentheses:
    drawn = [rng.choice(ops) for _ in operands[1:]]
    if len(operands) == 2:  # What parse() returns for "a op b", without the string.
      return (drawn[0], operands[0], operands[1])
    # The flat string defines the tree, precedence included.
    return parse(str(operands[0]) + "".join(op + str(x) for op, x in zip(drawn, operands[1:])))
  if len(operands) == 1:
    return operands[0]
  k = rng.randint(1, len(operands) - 1)
  return (rng.choice(ops), _random_tree(rng, operands[:k], ops, True),
          _random_tree(rng, operands[k:], ops, True))


def random_question(rng: random.Random, task: ArithmeticTask, *, max_digits=None,
                    min_longest=1) -> Tree:
  """A random tree; with `min_longest`, at least one operand has that many digits."""
  while True:
    operands = [_operand(rng, max_digits or task.digits) for _ in range(task.num_terms)]
    if max(len(str(x)) for x in operands) >= min_longest:
      return _random_tree(rng, operands, task.ops, task.parentheses)


def sample_unique(rng, task, count, *, seen=None, max_digits=None, min_longest=1,
                  what="questions"):
  """`count` distinct questions (and their trees), none of them in `seen` (updated)."""
  seen = set() if seen is None else seen
  out = []
  misses = 0
  while len(out) < count:
    tree = random_question(rng, task, max_digits=max_digits, min_longest=min_longest)
    key = canonical(tree)
    if key in seen:
      misses += 1
      # Far more misses than the requested size means the space is (nearly) exhausted.
      if misses > 20 * count + 100_000:
        raise UserError(
            f"could only draw {len(out)} distinct {what} of the {count} asked for with "
            f"digits={task.digits}, ops={task.ops!r}, num_terms={task.num_terms}: ask for "
            f"fewer examples or more digits")
      continue
    seen.add(key)
    out.append(tree)
  return out


def make_splits(task: ArithmeticTask, *, num_examples: int, val_fraction: float,
                num_test: int, num_length_generalization: int = 0,
                length_generalization_digits: int = 0, seed: int = 0) -> dict:
  """Disjoint splits of (query, answer) string pairs.

  `num_examples` questions are divided into train and validation (Keras's 90/10
  with val_fraction=0.1); `num_test` more form the test split. All are distinct
  questions. The optional `length_generalization` split has operands of up to
  `length_generalization_digits` digits, at least one of them longer than
  `task.digits`, so none of its questions can occur in training.
  """
  if num_examples <= 0:
    raise UserError(f"config.task.num_examples must be positive, got {num_examples}")
  if not 0 < val_fraction < 1:
    raise UserError(f"config.task.val_fraction must be in (0, 1), got {val_fraction}")
  num_val = round(num_examples * val_fraction)
  if num_val == 0 or num_val == num_examples:
    raise UserError(
        f"config.task.val_fraction={val_fraction} leaves an empty train or validation split "
        f"of {num_examples} examples")
  rng = random.Random(seed)
  seen = set()
  trees = sample_unique(rng, task, num_examples + num_test, seen=seen)
  # Late draws favour rare (long) operands once common ones are used up; shuffling
  # before cutting keeps every split drawn from the same distribution.
  rng.shuffle(trees)
  num_train = num_examples - num_val
  cuts = {"train": trees[:num_train], "validation": trees[num_train:num_examples],
          "test": trees[num_examples:]}
  if num_length_generalization:
    if length_generalization_digits <= task.digits:
      raise UserError(
          f"config.task.length_generalization_digits must exceed digits={task.digits}, "
          f"got {length_generalization_digits}")
    cuts["length_generalization"] = sample_unique(
        rng, task, num_length_generalization, seen=seen,
        max_digits=length_generalization_digits, min_longest=task.digits + 1,
        what="length-generalization questions")
  return {name: [(render(t, task.parentheses), str(evaluate(t))) for t in ts]
          for name, ts in cuts.items()}
