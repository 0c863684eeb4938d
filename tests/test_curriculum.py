"""Learning to Execute's curricula: what each strategy draws, when naive moves up, that no
held-out question is drawn, and that a resumed run trains on exactly the same batches."""

import collections

import numpy as np
import pytest

from s2s import arithmetic
from s2s import curriculum
from s2s.errors import RunFailed

from conftest import assert_user_error, final_params, read_metrics, resume_after, train_cli

GRAMMAR = arithmetic.ArithmeticTask(digits=4)


def _encode(record):
  return {"query": np.array(record["query"]), "answer": np.array(record["answer"])}


def make(strategy, seed=0, held_out=(), batch_size=64, **kwargs):
  return curriculum.Curriculum(strategy, GRAMMAR, _encode, batch_size=batch_size, seed=seed,
                               held_out=set(held_out), **kwargs)


def levels(batch):
  return [int(arithmetic.slice_labels(q)["longest_operand"]) for q in batch["query"]]


def test_every_question_is_right_and_the_batches_depend_on_the_seed_alone():
  a, b, c = make("mix"), make("mix"), make("mix", seed=1)
  for _ in range(3):
    x, y, z = next(a), next(b), next(c)
    np.testing.assert_array_equal(x["query"], y["query"])
    assert list(x["query"]) != list(z["query"])
  for query, answer in zip(x["query"], x["answer"]):
    assert str(arithmetic.evaluate(arithmetic.parse(str(query)))) == answer


def test_a_restored_state_draws_the_batches_the_uninterrupted_iterator_draws():
  reference = make("naive", patience=1)
  for _ in range(3):
    next(reference)
  reference.observe({"longest_operand": {"1": {"count": 5, "sequence_accuracy": 0.99}}})
  state = reference.get_state()
  expected = [next(reference)["query"] for _ in range(3)]
  restored = make("naive", patience=1)
  restored.set_state(state)
  assert restored.level == 2
  for batch in expected:
    np.testing.assert_array_equal(next(restored)["query"], batch)


def test_each_strategy_draws_its_levels():
  assert set(levels(next(make("baseline")))) == {4}
  assert set(levels(next(make("naive")))) == {1}
  mixed = collections.Counter(level for _ in range(8) for level in levels(next(make("mix"))))
  assert set(mixed) == {1, 2, 3, 4}
  combined = make("combined", batch_size=400)
  combined.level = 3
  drawn = collections.Counter(levels(next(combined)))
  # Half from naive's level 3, half uniform over 1..4: level 3 is 5/8 of the questions.
  assert abs(drawn[3] / 400 - 5 / 8) < 0.1
  assert drawn[1] > 0 and drawn[4] > 0


def _accuracy(level, value):
  return {"longest_operand": {str(level): {"count": 100, "sequence_accuracy": value}}}


def test_naive_moves_up_at_the_threshold_or_once_progress_stops():
  c = make("naive", patience=2, threshold=0.9)
  c.observe(_accuracy(1, 0.5))
  c.observe(_accuracy(1, 0.6))
  assert c.level == 1
  c.observe(_accuracy(1, 0.95))  # Reached the threshold.
  assert c.level == 2
  c.observe(_accuracy(2, 0.3))
  c.observe(_accuracy(2, 0.3))  # No progress once...
  assert c.level == 2
  c.observe(_accuracy(2, 0.2))  # ...twice.
  assert c.level == 3
  c.observe({"longest_operand": {}})  # No question of the level: no evidence, no move.
  assert c.level == 3
  for _ in range(10):
    c.observe(_accuracy(c.level, 1.0))
  assert c.level == 4  # Never beyond the target.
  for strategy in ("baseline", "mix"):
    other = make(strategy)
    other.observe(_accuracy(1, 1.0))
    assert other.level == 1 and other.get_state()["level"] == 1


def test_no_held_out_question_is_ever_drawn_and_a_used_up_level_is_one_line():
  small = arithmetic.ArithmeticTask(digits=2)
  level_one = {arithmetic.canonical(("+", a, b)) for a in range(10) for b in range(10)}
  held = set(list(sorted(level_one, key=repr))[:40])  # 40 of the 55 one-digit questions.
  c = curriculum.Curriculum("mix", small, _encode, batch_size=200, seed=0, held_out=held)
  for _ in range(5):
    for query in next(c)["query"]:
      assert arithmetic.canonical(arithmetic.parse(str(query))) not in held
  c = curriculum.Curriculum("naive", small, _encode, batch_size=8, seed=0, held_out=level_one)
  with pytest.raises(RunFailed, match="level-1 questions in a row .* validation or test"):
    next(c)


def test_a_curriculum_needs_two_levels(tmp_path, data_dir):
  assert_user_error(train_cli(tmp_path / "r", data_dir, "--config.task.curriculum=naive",
                              "--config.task.digits=1"), "config.task.curriculum", "digits")


def test_a_resumed_curriculum_run_is_bitwise_identical(tmp_path, data_dir):
  args = ["--config.num_steps=120", "--config.eval_every_steps=20",
          "--config.checkpoint_every_steps=40", "--config.keep_checkpoints=5",
          "--config.task.digits=3", "--config.task.curriculum=combined",
          "--config.task.curriculum_patience=1", "--config.num_samples=0"]
  reference = tmp_path / "reference"
  assert train_cli(reference, data_dir, *args).returncode == 0
  resumed = tmp_path / "resumed"
  resume_after(reference, resumed, 40, data_dir, *args)
  for a, b in zip(final_params(reference), final_params(resumed), strict=True):
    np.testing.assert_array_equal(a, b)
  strip = lambda events: [{k: v for k, v in e.items() if k != "elapsed_s"} for e in events]
  events = read_metrics(resumed)
  assert strip(events) == strip(read_metrics(reference))
  train_levels = [e["curriculum_level"] for e in events if e["split"] == "train"]
  assert train_levels == sorted(train_levels) and train_levels[-1] > 1  # It moved up.
  assert all("longest_operand" in e["slices"] for e in events if e["split"] == "validation")
