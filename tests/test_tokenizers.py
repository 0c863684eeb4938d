"""Tokenizers: exact round trips of French text, UNK for the unseen, save/load, errors."""

import io
import os

import jax.numpy as jnp
import numpy as np
import pytest
import sentencepiece as spm

from s2s import tokenizers
from s2s.errors import UserError
from s2s.vocab import BOS, EOS, PAD, UNK

# French typography: non-breaking (U+00A0) and narrow non-breaking (U+202F) spaces
# around « » : ? !, curly apostrophes, accents, runs of spaces and edge spaces.
TRAIN = ["Il a dit\u00a0: «\u00a0C’est l’été\u00a0!\u00a0»",
         "Où est la gare\u202f?",
         "Je n’ai pas faim.",
         "  Deux  espaces, puis une fin ",
         "Ça coûte 12,50\u00a0€."]
HELD_OUT = "Où est l’été\u00a0? C’est la fin."  # every character seen in TRAIN
UNSEEN = "漢"


@pytest.fixture(scope="module")
def char_tok():
  return tokenizers.train("char", TRAIN)


@pytest.fixture(scope="module")
def spm_tok():
  return tokenizers.train("spm", TRAIN, vocab_size=60)


@pytest.fixture(params=["char", "spm"])
def tok(request, char_tok, spm_tok):
  return {"char": char_tok, "spm": spm_tok}[request.param]


def test_kinds(char_tok, spm_tok):
  assert (char_tok.kind, spm_tok.kind) == ("char", "spm")
  assert isinstance(char_tok, tokenizers.CharTokenizer)
  assert isinstance(spm_tok, tokenizers.SentencePieceTokenizer)


@pytest.mark.parametrize("text", TRAIN + [HELD_OUT, ""])
def test_round_trip_is_exact(tok, text):
  ids = tok.encode(text)
  assert UNK not in ids
  assert tok.decode(ids) == text


def test_char_ids_are_one_per_character_after_the_specials(char_tok):
  chars = sorted(set("".join(TRAIN)))
  assert char_tok.size == 4 + len(chars)
  assert sorted(char_tok.encode("".join(chars))) == list(range(4, char_tok.size))
  assert len(char_tok.encode(TRAIN[0])) == len(TRAIN[0])


def test_spm_pieces_leave_the_special_ids_alone(spm_tok):
  sp = spm.SentencePieceProcessor(model_proto=spm_tok.model_proto)
  assert sp.get_piece_size() == spm_tok.size
  assert [sp.id_to_piece(i) for i in range(4)] == ["<pad>", "<s>", "</s>", "<unk>"]
  assert [bool(sp.is_control(i)) for i in range(4)] == [True, True, True, False]
  assert sp.is_unknown(3)
  real = [i for i in range(4, sp.get_piece_size()) if sp.is_control(i) or sp.is_unknown(i)]
  assert real == []
  for text in TRAIN:
    assert min(spm_tok.encode(text)) >= 4
  # Subwords, not characters: the corpus is shorter in pieces than in characters.
  assert sum(map(len, map(spm_tok.encode, TRAIN))) < sum(map(len, TRAIN))


def test_unseen_characters_become_unk(char_tok, spm_tok):
  ete = char_tok.encode("été")
  assert char_tok.encode(f"été{UNSEEN}") == ete + [UNK]
  assert char_tok.decode(char_tok.encode(f"été{UNSEEN}")) == "été\ufffd"
  ids = spm_tok.encode(f"été {UNSEEN}")
  assert ids[-1] == UNK and ids.count(UNK) == 1
  assert ids[:-1] == spm_tok.encode("été ")
  assert spm_tok.decode(ids) == "été  \u2047 "  # sentencepiece's UNK surface is " ⁇ "


def test_decode_stops_at_eos_and_skips_pad_and_bos(tok):
  a, b = tok.encode("faim"), tok.encode("gare")
  ids = [BOS] + a[:1] + [PAD] + a[1:] + [EOS] + b + [PAD, PAD]
  assert tok.decode(ids) == "faim"
  assert tok.decode(np.array(ids, np.int32)) == "faim"
  assert tok.decode(jnp.array(ids, jnp.int32)) == "faim"
  assert tok.decode([EOS] + a) == ""
  assert tok.decode(a + [PAD] * 3) == "faim"


def test_decode_of_an_id_outside_the_vocabulary_is_a_user_error(tok):
  with pytest.raises(UserError, match=f"id {tok.size} is outside"):
    tok.decode([4, tok.size])


@pytest.mark.parametrize("kind,suffix", [("char", ".json"), ("spm", ".model")])
def test_save_then_load_gives_the_same_tokenizer(kind, suffix, char_tok, spm_tok, tmp_path):
  tok = {"char": char_tok, "spm": spm_tok}[kind]
  prefix = str(tmp_path / "workdir" / "tokenizer")
  tok.save(prefix)
  tok.save(prefix)  # overwriting is fine
  assert os.listdir(tmp_path / "workdir") == ["tokenizer" + suffix]  # no temp file left
  loaded = tokenizers.load(kind, prefix)
  assert (loaded.kind, loaded.size) == (tok.kind, tok.size)
  for text in TRAIN + [HELD_OUT, f"fin {UNSEEN}"]:
    assert loaded.encode(text) == tok.encode(text)
  assert loaded.decode(tok.encode(HELD_OUT)) == HELD_OUT


def test_spm_training_is_deterministic_and_writes_no_files(tmp_path, monkeypatch, capfd):
  monkeypatch.chdir(tmp_path)
  a = tokenizers.train("spm", TRAIN, vocab_size=60)
  b = tokenizers.train("spm", list(TRAIN), vocab_size=60)
  assert os.listdir(tmp_path) == []
  assert capfd.readouterr() == ("", "")  # sentencepiece's logging is silenced
  assert a.model_proto == b.model_proto
  assert a.encode(HELD_OUT) == b.encode(HELD_OUT)


def test_spm_with_a_vocab_size_the_corpus_cannot_fill_still_trains():
  tok = tokenizers.train("spm", TRAIN, vocab_size=100_000)
  assert 4 + len(set("".join(TRAIN))) <= tok.size < 100_000
  assert [tok.decode(tok.encode(t)) for t in TRAIN] == TRAIN


def test_spm_bpe_round_trips():
  tok = tokenizers.SentencePieceTokenizer.train(TRAIN, vocab_size=80, model_type="bpe")
  assert [tok.decode(tok.encode(t)) for t in TRAIN] == TRAIN


def test_spm_vocab_size_below_the_characters_is_a_user_error():
  # "a", "b", "c", the word-start marker, and 4 special ids.
  with pytest.raises(UserError, match=r"vocab_size=6 is too small .* at least 8,"):
    tokenizers.train("spm", ["abc"], vocab_size=6)


@pytest.mark.parametrize("vocab_size", [0, 4, 10.5])
def test_spm_bad_vocab_size_is_a_user_error(vocab_size):
  with pytest.raises(UserError, match="vocab_size must be an integer above 4"):
    tokenizers.train("spm", TRAIN, vocab_size=vocab_size)


def test_spm_unknown_model_type_is_a_user_error():
  with pytest.raises(UserError, match="model_type must be one of unigram, bpe, char, word"):
    tokenizers.SentencePieceTokenizer.train(TRAIN, vocab_size=60, model_type="wordpiece")


def test_char_ids_follow_frequency_then_codepoint():
  # Counts: a 4, b 2, n 2, c 1; b and n tie, so codepoint order.
  tok = tokenizers.CharTokenizer.train(["banana", "cab"])
  assert tok.chars == "abnc"
  assert tok.encode("abnc") == [4, 5, 6, 7]
  assert tokenizers.CharTokenizer.train(["cab", "banana"]).chars == "abnc"


def test_char_min_count_drops_rare_characters_to_unk():
  tok = tokenizers.CharTokenizer.train(["banana", "cab"], min_count=2)
  assert (tok.chars, tok.size) == ("abn", 7)
  assert tok.encode("cab") == [UNK, 4, 5]
  assert tok.decode(tok.encode("cab")) == "\ufffdab"


@pytest.mark.parametrize("min_count,message", [
    (0, "min_count must be a positive integer, not 0"),
    (5, "min_count=5 leaves no characters: the most frequent one is seen only 4 times")])
def test_char_bad_min_count_is_a_user_error(min_count, message):
  with pytest.raises(UserError, match=message):
    tokenizers.CharTokenizer.train(["banana", "cab"], min_count=min_count)


@pytest.mark.parametrize("kind", ["char", "spm"])
@pytest.mark.parametrize("texts", [[], [""]])
def test_empty_training_texts_are_a_user_error(kind, texts):
  with pytest.raises(UserError, match="the training texts are empty"):
    tokenizers.train(kind, texts)


def test_unknown_kind_is_a_user_error(tmp_path):
  with pytest.raises(UserError, match="tokenizer kind must be one of char, word, spm, not 'bpe'"):
    tokenizers.train("bpe", TRAIN)
  with pytest.raises(UserError, match="tokenizer kind must be one of char, word, spm, not 'bpe'"):
    tokenizers.load("bpe", str(tmp_path / "tokenizer"))


@pytest.mark.parametrize("kind,suffix", [("char", ".json"), ("spm", ".model")])
def test_load_of_a_missing_file_names_it(kind, suffix, tmp_path):
  path = str(tmp_path / "tokenizer") + suffix
  with pytest.raises(UserError) as e:
    tokenizers.load(kind, str(tmp_path / "tokenizer"))
  assert str(e.value) == f"cannot read the tokenizer file {path}: No such file or directory"


@pytest.mark.parametrize("kind,suffix,content", [
    ("char", ".json", b"{not json"),
    ("char", ".json", b'{"kind": "char", "chars": ["a", "bc"]}'),
    ("char", ".json", b'{"kind": "spm", "chars": ["a"]}'),
    ("spm", ".model", b"\x00garbage\xff"),
    ("spm", ".model", b"")])
def test_load_of_a_corrupt_file_names_it(kind, suffix, content, tmp_path):
  path = tmp_path / ("tokenizer" + suffix)
  path.write_bytes(content)
  with pytest.raises(UserError) as e:
    tokenizers.load(kind, str(tmp_path / "tokenizer"))
  assert str(e.value).startswith(f"{path} is not a")


def test_load_of_a_model_with_other_special_ids_is_a_user_error(tmp_path):
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(sentence_iterator=iter(TRAIN), model_writer=model,
                                 vocab_size=60, hard_vocab_limit=False, minloglevel=2)
  path = tmp_path / "tokenizer.model"
  path.write_bytes(model.getvalue())
  with pytest.raises(UserError, match=r"has pad, bos, eos, unk ids \(-1, 1, 2, 0\)"):
    tokenizers.load("spm", str(tmp_path / "tokenizer"))


def test_pieces_name_what_each_id_stands_for():
  char = tokenizers.CharTokenizer.train(["abba"])
  assert [char.piece(i) for i in range(char.size)] == ["<pad>", "<bos>", "<eos>", "<unk>",
                                                       "a", "b"]
  spm_tok = tokenizers.SentencePieceTokenizer.train(["le chat", "le chien"] * 20, vocab_size=30)
  ids = spm_tok.encode("le chat")
  assert "".join(spm_tok.piece(i) for i in ids) == "\u2581le\u2581chat"
  assert spm_tok.piece(2) == "</s>"
