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

import collections
import dataclasses
import math
import random
from typing import Union

from s2s.errors import UserError

OPERATORS = "+-*"
_PRECEDENCE = {"+": 1, "-": 1, "*": 2}
_COMMUTATIVE = {"+", "*"}
_DIGITS = "0123456789"  # Not str.isdigit, which accepts other scripts' digits too.

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


def two_terms(task_config) -> ArithmeticTask:
  """The questions of a task config's `digits` and `ops` with two terms and no parentheses
  (`12+345`), as the captioning and speech tasks write and speak them."""
  return ArithmeticTask(digits=task_config.digits, ops=task_config.ops, num_terms=2,
                        parentheses=False)


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


class ParseError(ValueError):
  """A string that is not an expression: `reason` says what is wrong at `position`."""

  def __init__(self, text: str, position: int, reason: str):
    super().__init__(f"{reason} at position {position} of {text!r}")
    self.position, self.reason = position, reason


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
        raise ParseError(text, pos, "missing ')'")
      pos += 1
      return tree
    start = pos
    while pos < len(text) and text[pos] in _DIGITS:
      pos += 1
    if start == pos:
      raise ParseError(text, start, "expected a number")
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
    raise ParseError(text, pos, f"unexpected {text[pos]!r}")
  return tree


def _leaves(tree: Tree) -> int:
  return 1 if isinstance(tree, int) else _leaves(tree[1]) + _leaves(tree[2])


def check_question(text: str, task: ArithmeticTask, max_length: int | None = None) -> Tree:
  """The tree of `text` if `task` could have generated it, operands of any length aside
  (a model may be asked longer operands than it was trained on, up to `max_length`
  characters in all); else a UserError naming the query and what is wrong.

  A question of the task is exactly what `render` writes for one of its trees: num_terms
  operands without sign or leading zeros, only the task's operators, and with parentheses
  every compound operand bracketed (and nothing else), without them no bracket at all.
  """
  def refuse(why):
    shown = text if len(text) <= 40 else text[:40] + "..."
    return UserError(f"the query {shown!r} is not a question of this task: {why}")

  for c in text:
    if c in OPERATORS and c not in task.ops:
      raise refuse(f"it uses the operator {c!r}, and the task's questions use only "
                   f"{task.ops!r}")
    if c in "()" and not task.parentheses:
      raise refuse("it has parentheses, and the task's questions have none")
    if c not in _DIGITS and c not in OPERATORS and c not in "()":
      raise refuse(f"it contains {c!r}, which no question of the task contains")
  if max_length is not None and len(text) > max_length:
    raise refuse(f"it has {len(text)} characters, more than the {max_length} this model was "
                 f"built for")
  try:
    tree = parse(text)
  except ParseError as e:
    if e.position == len(text):
      where = "the end"
    elif repr(text[e.position]) in e.reason:  # "unexpected ')'"
      where = f"character {e.position + 1}"
    else:
      where = f"character {e.position + 1} ({text[e.position]!r})"
    raise refuse(f"{e.reason} at {where}") from None
  if _leaves(tree) != task.num_terms:
    raise refuse(f"it has {_leaves(tree)} operand{'s' if _leaves(tree) > 1 else ''}, and the "
                 f"task's questions have {task.num_terms}")
  written = render(tree, task.parentheses)
  if written != text:
    raise refuse(f"the task writes this question as {written!r}")
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


# How operands are drawn (config.task.sampler):
#   keras     a length uniform in 1..digits, then that many digits uniform in 0-9 (the Keras
#             recipe: leading zeros make short operands more common than long ones)
#   uniform   a value uniform in 0..10**digits - 1: every question string equally likely, so
#             nearly every operand has the most digits
#   balanced  a length uniform in 1..digits, then a value uniform among the numbers of exactly
#             that many digits (0-9 for one): every combination of operand lengths equally likely
#   levels    a level uniform in 1..digits, then operands uniform in 0..10**level - 1 with at
#             least one of exactly `level` digits: every longest-operand length equally likely
#             (Learning to Execute's difficulty levels; s2s/curriculum.py)
SAMPLERS = ("keras", "uniform", "balanced", "levels")


def _operand(rng: random.Random, max_digits: int, sampler: str = "keras") -> int:
  if sampler == "uniform":
    return rng.randrange(10**max_digits)
  length = rng.randint(1, max_digits)
  if sampler == "balanced":
    return rng.randrange(10**(length - 1) if length > 1 else 0, 10**length)
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
                    min_longest=1, sampler="keras") -> Tree:
  """A random tree, its operands drawn by `sampler` (SAMPLERS) with up to `max_digits`
  (default task.digits) digits; with `min_longest`, at least one has that many digits."""
  if sampler == "levels":
    level = rng.randint(min_longest, max_digits or task.digits)
    return random_question(rng, task, max_digits=level, min_longest=level, sampler="uniform")
  while True:
    operands = [_operand(rng, max_digits or task.digits, sampler) for _ in range(task.num_terms)]
    if max(len(str(x)) for x in operands) >= min_longest:
      return _random_tree(rng, operands, task.ops, task.parentheses)


def sample_unique(rng, task, count, *, seen=None, max_digits=None, min_longest=1,
                  what="questions", sampler="keras"):
  """`count` distinct questions (and their trees), none of them in `seen` (updated)."""
  seen = set() if seen is None else seen
  out = []
  misses = 0
  per_level = collections.Counter()
  while len(out) < count:
    tree = random_question(rng, task, max_digits=max_digits, min_longest=min_longest,
                           sampler=sampler)
    key = canonical(tree)
    level = max(len(str(x)) for x in _operands(tree))
    # The levels sampler takes at most half of a small level's questions (there are 55
    # one-digit sums), leaving the rest to a curriculum that never trains on these.
    if key in seen or (sampler == "levels" and per_level[level] >= _level_space(task, level) // 2):
      misses += 1
      # Far more misses than the requested size means the space is (nearly) exhausted.
      if misses > 20 * count + 100_000:
        raise UserError(
            f"could only draw {len(out)} distinct {what} of the {count} asked for with "
            f"digits={task.digits}, ops={task.ops!r}, num_terms={task.num_terms}: ask for "
            f"fewer examples or more digits")
      continue
    seen.add(key)
    per_level[level] += 1
    out.append(tree)
  return out


def _level_space(task: ArithmeticTask, level: int) -> float:
  """How many distinct two-term questions have a longest operand of `level` digits
  (infinite, i.e. not counted, for more terms)."""
  if task.num_terms != 2:
    return math.inf
  low = 10**(level - 1) if level > 1 else 0
  pairs = 10**(2 * level) - low**2  # Ordered operand pairs, the longest of `level` digits.
  equal = 10**level - low  # Of them, pairs of equal operands.
  return sum((pairs + equal) // 2 if op in _COMMUTATIVE else pairs for op in task.ops)


def make_splits(task: ArithmeticTask, *, num_examples: int, val_fraction: float,
                num_test: int, num_length_generalization: int = 0,
                length_generalization_digits: int = 0, seed: int = 0,
                sampler: str = "keras") -> dict:
  """Disjoint splits of (query, answer) string pairs.

  `num_examples` questions are divided into train and validation (Keras's 90/10
  with val_fraction=0.1); `num_test` more form the test split. All are distinct
  questions, their operands drawn by `sampler` (SAMPLERS). The optional
  `length_generalization` split has operands of up to `length_generalization_digits`
  digits (drawn by the same sampler), at least one of them longer than `task.digits`, so
  none of its questions can occur in training.
  """
  if sampler not in SAMPLERS:
    raise UserError(f"config.task.sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
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
  trees = sample_unique(rng, task, num_examples + num_test, seen=seen, sampler=sampler)
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
        what="length-generalization questions", sampler=sampler)
  return {name: [(render(t, task.parentheses), str(evaluate(t))) for t in ts]
          for name, ts in cuts.items()}


def _operands(tree: Tree) -> list[int]:
  return [tree] if isinstance(tree, int) else _operands(tree[1]) + _operands(tree[2])


def _column_carries(a: int, b: int) -> int:
  """Carries of a + b written in columns (a, b >= 0)."""
  count = carry = 0
  while a or b:
    carry = int(a % 10 + b % 10 + carry >= 10)
    count += carry
    a, b = a // 10, b // 10
  return count


def _column_borrows(a: int, b: int) -> int:
  """Borrows of a - b written in columns (a >= b >= 0)."""
  count = borrow = 0
  while a or b:
    borrow = int(a % 10 - b % 10 - borrow < 0)
    count += borrow
    a, b = a // 10, b // 10
  return count


def carries(tree: Tree) -> int:
  """Carries and borrows of the question done by hand: each + or - node adds or subtracts
  its operands' values in columns (on their magnitudes: adding values of opposite signs is a
  subtraction of the smaller magnitude from the larger, with borrows); * nodes add none."""
  if isinstance(tree, int):
    return 0
  op, left, right = tree
  count = carries(left) + carries(right)
  if op == "*":
    return count
  a, b = evaluate(left), evaluate(right)
  b = b if op == "+" else -b
  if (a < 0) == (b < 0) or a == 0 or b == 0:
    return count + _column_carries(abs(a), abs(b))
  return count + _column_borrows(max(abs(a), abs(b)), min(abs(a), abs(b)))


# The slice families of a question (evaluation.slices): its structure, one label each.
SLICE_FAMILIES = ("operand_digits", "longest_operand", "carries", "answer_length", "operator",
                  "terms", "parentheses")


def slice_labels(query: str) -> dict:
  """The question's label in each of SLICE_FAMILIES, e.g. for '12+345':
  {'operand_digits': '2,3', 'longest_operand': '3', 'carries': '0', 'answer_length': '3',
   'operator': '+', 'terms': '2', 'parentheses': 'no'}. Operand digits are in question order
  (`12-345` is '2,3', `345-12` '3,2'); the answer's length counts its sign."""
  tree = parse(query)
  digits = [len(str(x)) for x in _operands(tree)]
  return {"operand_digits": ",".join(map(str, digits)), "longest_operand": str(max(digits)),
          "carries": str(carries(tree)), "answer_length": str(len(str(evaluate(tree)))),
          "operator": "".join(op for op in OPERATORS if op in query),
          "terms": str(len(digits)), "parentheses": "yes" if "(" in query else "no"}


def small_operand_questions(task: ArithmeticTask) -> list[tuple[str, str]]:
  """Every question of two operands of 1 or 2 digits (up to task.digits), both orders, each
  operator of the task: the whole small space, evaluated at the end of a run whatever was
  sampled. Empty unless the task's questions have two terms."""
  if task.num_terms != 2:
    return []
  values = range(10**min(2, task.digits))
  ops = [op for op in OPERATORS if op in task.ops]
  return [(f"{a}{op}{b}", str(evaluate((op, a, b)))) for op in ops for a in values for b in values]
