"""What the text-to-text tasks share: a query string in, an answer string out, each through
its tokenizer (a character vocabulary, sentencepiece, ...). Not a task itself.

One example's arrays:
  inputs:        int32 [query_length]   query ids (reversed if the task says so), PAD-padded
  input_lengths: int32 []               number of real query ids
  targets:       int32 [target_length]  answer ids, then EOS, PAD-padded
"""

import dataclasses
import functools

import numpy as np

from s2s import models
from s2s import vocab as vocab_lib
from s2s.errors import UserError


@dataclasses.dataclass(frozen=True)
class TextTask:
  """A task of query and answer strings, through a source and a target tokenizer (objects
  with `encode(text) -> ids`, `decode(ids) -> text`, `piece(id) -> str` and `size`).

  Answers longer than target_length - 1 tokens are truncated (only ever at predict time, where
  targets are unused: the lengths are the longest of the dataset's splits); a query longer
  than query_length is an error.
  """
  source: object
  target: object
  query_length: int
  target_length: int  # Answer tokens + EOS.
  reverse: bool  # Feed the query reversed (Sutskever 2014).

  RECORD_KEYS = ("query", "answer")  # A record's query and answer fields.
  UNIT = "tokens"  # What a query's length counts, in error messages.

  @property
  def input_spec(self) -> dict:
    return {"inputs": ((self.query_length,), np.int32), "input_lengths": ((), np.int32)}

  @property
  def target_vocab_size(self) -> int:
    return self.target.size

  def input_module(self, model_config):
    return functools.partial(models.TokenInput, self.source.size, model_config.embed_dim)

  @classmethod
  def texts(cls, record) -> tuple[str, str]:
    query, answer = cls.RECORD_KEYS
    return _text(record[query]), _text(record[answer])

  def normalize(self, query: str) -> str:
    return query.strip()

  def check_query(self, query: str) -> None:
    """Raises a UserError naming `query` unless the task could have asked it."""
    self.encode_query(query)

  def parse_query(self, text: str) -> dict:
    query = self.normalize(text)
    self.check_query(query)
    return self.encode_query(query)

  def encode_query(self, query: str) -> dict:
    ids = self.source.encode(query)
    if not ids:
      raise UserError("the query is empty")
    if len(ids) > self.query_length:
      shown = query if len(query) <= 40 else query[:40] + "..."
      raise UserError(f"the query {shown!r} has {len(ids)} {self.UNIT}, more than the "
                      f"{self.query_length} this model was built for")
    if self.reverse:
      ids = ids[::-1]
    return {"inputs": pad(ids, self.query_length), "input_lengths": np.int32(len(ids))}

  def encode(self, record) -> dict:
    query, answer = self.texts(record)
    targets = self.target.encode(answer)[:self.target_length - 1] + [vocab_lib.EOS]
    return self.encode_query(query) | {"targets": pad(targets, self.target_length)}

  def sequence_lengths(self, arrays) -> dict:
    """{batch key: int [N]} of encoded examples (length buckets): query ids, answer ids + EOS."""
    return {"inputs": np.asarray(arrays["input_lengths"]),
            "targets": np.sum(np.asarray(arrays["targets"]) != vocab_lib.PAD, axis=1)}

  def decode(self, ids) -> str:
    return self.target.decode(ids)

  def text_metrics(self, hypotheses, references, final: bool = False) -> dict:
    del hypotheses, references, final
    return {}

  def source_pieces(self, example) -> list[str]:
    """Each id of an encoded query as its piece, in the order fed (for attention plots)."""
    ids = np.asarray(example["inputs"])[:int(example["input_lengths"])]
    return [self.source.piece(i) for i in ids.tolist()]

  def target_pieces(self, ids) -> list[str]:
    return pieces(self.target, ids)


def _text(x):
  return x.decode("utf-8") if isinstance(x, bytes) else x


def pad(ids, length):
  out = np.full((length,), vocab_lib.PAD, np.int32)
  out[:len(ids)] = ids
  return out


def pieces(tokenizer, ids) -> list[str]:
  """Each predicted id as its tokenizer's piece, up to and including EOS (attention plots)."""
  ids = np.asarray(ids).tolist()
  ids = ids[:ids.index(vocab_lib.EOS) + 1] if vocab_lib.EOS in ids else ids
  return [tokenizer.piece(i) for i in ids]
