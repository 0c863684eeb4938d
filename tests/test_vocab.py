"""Character vocabularies: round trips, special ids, unknown characters."""

import jax.numpy as jnp
import numpy as np
import pytest

from s2s import arithmetic
from s2s import vocab as vocab_lib
from s2s.errors import UserError
from s2s.vocab import BOS, EOS, PAD, UNK

TASK = arithmetic.ArithmeticTask(digits=3, ops="+-*", num_terms=3, parentheses=True)


@pytest.fixture
def vocab():
  return vocab_lib.CharVocab(TASK.chars)


def test_special_ids():
  assert (PAD, BOS, EOS, UNK) == (0, 1, 2, 3)
  assert vocab_lib.SPECIALS == ("<pad>", "<bos>", "<eos>", "<unk>")


def test_characters_get_distinct_ids_after_the_specials(vocab):
  ids = vocab.encode(TASK.chars)
  assert len(ids) == len(TASK.chars) == len(set(ids))
  assert min(ids) >= 4
  assert max(ids) < vocab.size
  assert vocab.size == 4 + len(TASK.chars)
  assert sorted(ids) == list(range(4, vocab.size))


def test_repeated_characters_are_one_entry():
  v = vocab_lib.CharVocab("1+1+2")
  assert v.size == 4 + 3
  assert v.encode("1") == v.encode("1")
  assert v.decode(v.encode("2+1")) == "2+1"


@pytest.mark.parametrize("text", [TASK.chars, "", "0", "(12-3)*45", "-998001", "0123456789"])
def test_round_trip(vocab, text):
  assert vocab.decode(vocab.encode(text)) == text


def test_round_trip_of_generated_questions_and_answers(vocab):
  splits = arithmetic.make_splits(TASK, num_examples=200, val_fraction=0.1, num_test=20)
  for pairs in splits.values():
    for query, answer in pairs:
      for text in (query, answer):
        ids = vocab.encode(text)
        assert all(i >= 4 for i in ids)
        assert vocab.decode(ids) == text


def test_decode_stops_at_first_eos(vocab):
  ids = vocab.encode("12") + [EOS] + vocab.encode("34") + [EOS]
  assert vocab.decode(ids) == "12"
  assert vocab.decode([EOS] + vocab.encode("5")) == ""


def test_decode_skips_pad_and_bos(vocab):
  ids = [BOS] + vocab.encode("1") + [PAD] + vocab.encode("+2") + [PAD, PAD, EOS, PAD]
  assert vocab.decode(ids) == "1+2"


def test_decode_accepts_arrays(vocab):
  ids = vocab.encode("7*8") + [EOS, PAD]
  assert vocab.decode(np.array(ids, np.int32)) == "7*8"
  assert vocab.decode(jnp.array(ids, jnp.int32)) == "7*8"


def test_unknown_character_is_a_user_error_naming_it(vocab):
  with pytest.raises(UserError, match="'/'"):
    vocab.encode("12/3")
  with pytest.raises(UserError, match="'x'"):
    vocab.encode("x")


def test_unknown_character_can_map_to_unk(vocab):
  ids = vocab.encode("1/2", unknown="unk")
  assert ids == [vocab.encode("1")[0], UNK, vocab.encode("2")[0]]
  assert vocab.decode(ids) == "1\ufffd2"


def test_vocab_without_an_operator_rejects_it():
  v = vocab_lib.CharVocab(arithmetic.ArithmeticTask(ops="+").chars)
  with pytest.raises(UserError, match="'\\*'"):
    v.encode("2*3")
