"""The two seq2seq architectures, as flax.linen modules.

Both take
  inputs:        int32 [batch, query_length]   token ids, PAD-padded
  input_lengths: int32 [batch]                 number of real tokens
  targets:       int32 [batch, target_length]  answer ids + EOS, PAD-padded
and return logits float32 [batch, target_length, vocab_size].

`repeat` (Keras addition_rnn): the encoder's last output, repeated once per
output step, is the input of a decoder that returns sequences.

`encoder_decoder` (Sutskever 2014, Cho 2014): each encoder layer's final state
initialises a decoder layer; the decoder reads the previous target token
(teacher forcing) in training, or its own previous prediction with `greedy=True`.

Bidirectional encoders: every encoder layer runs forward and backward over the
real tokens (padding is skipped in both directions) and passes the
concatenation of both outputs to the next layer. For `repeat`, the decoder
input is [forward final output, backward final output] (Keras's `concat`).
For `encoder_decoder`, a decoder layer's initial state is a learned linear map
of the concatenated forward and backward final states of its encoder layer.
Encoder layers are matched to decoder layers from the top: the top decoder
layer starts from the top encoder layer; extra decoder layers start from zeros.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from s2s import vocab as vocab_lib


def make_cell(kind: str, size: int, name: str):
  return nn.OptimizedLSTMCell(size, name=name) if kind == "lstm" else nn.GRUCell(size, name=name)


def carry_output(kind: str, carry):
  """The output h held in a cell's carry ((c, h) for an LSTM, h for a GRU)."""
  return carry[1] if kind == "lstm" else carry


class TokenInput(nn.Module):
  """One-hot ids (embed_dim == 0, as Keras) or a learned embedding."""
  vocab_size: int
  embed_dim: int

  @nn.compact
  def __call__(self, ids):
    if self.embed_dim:
      return nn.Embed(self.vocab_size, self.embed_dim)(ids)
    return jax.nn.one_hot(ids, self.vocab_size, dtype=jnp.float32)


class Encoder(nn.Module):
  """Stacked (bidirectional) RNN; returns outputs [B, L, H or 2H] and each layer's final carry."""
  cell: str
  hidden_size: int
  num_layers: int
  bidirectional: bool
  dropout: float

  @nn.compact
  def __call__(self, x, lengths, train: bool):
    finals = []
    for i in range(self.num_layers):
      carry, y = nn.RNN(make_cell(self.cell, self.hidden_size, f"forward_{i}"),
                        return_carry=True)(x, seq_lengths=lengths)
      if self.bidirectional:
        back_carry, back_y = nn.RNN(
            make_cell(self.cell, self.hidden_size, f"backward_{i}"), return_carry=True,
            reverse=True, keep_order=True)(x, seq_lengths=lengths)
        carry, y = (carry, back_carry), jnp.concatenate([y, back_y], axis=-1)
      finals.append(carry)
      x = nn.Dropout(self.dropout, deterministic=not train)(y)
    return x, finals


class RepeatModel(nn.Module):
  """Keras addition_rnn: encoder -> RepeatVector -> decoder returning sequences -> Dense."""
  vocab_size: int
  cell: str = "lstm"
  hidden_size: int = 128
  encoder_layers: int = 1
  decoder_layers: int = 1
  bidirectional: bool = False
  dropout: float = 0.0
  embed_dim: int = 0

  @nn.compact
  def __call__(self, inputs, input_lengths, targets, *, train=False, greedy=False):
    del greedy  # The repeat model never reads its own predictions.
    x = TokenInput(self.vocab_size, self.embed_dim)(inputs)
    _, finals = Encoder(self.cell, self.hidden_size, self.encoder_layers, self.bidirectional,
                        self.dropout)(x, input_lengths, train)
    last = finals[-1]
    if self.bidirectional:
      summary = jnp.concatenate([carry_output(self.cell, c) for c in last], axis=-1)
    else:
      summary = carry_output(self.cell, last)
    y = jnp.repeat(summary[:, None, :], targets.shape[1], axis=1)
    for i in range(self.decoder_layers):
      y = nn.RNN(make_cell(self.cell, self.hidden_size, f"decoder_{i}"))(y)
      y = nn.Dropout(self.dropout, deterministic=not train)(y)
    return nn.Dense(self.vocab_size, name="logits")(y)


class DecoderStep(nn.Module):
  """One decoder time step: (states, previous prediction), target token -> logits."""
  vocab_size: int
  cell: str
  hidden_size: int
  dropout: float
  embed_dim: int
  teacher_force: bool
  train: bool

  @nn.compact
  def __call__(self, carry, token):
    states, previous = carry
    x = TokenInput(self.vocab_size, self.embed_dim)(token if self.teacher_force else previous)
    new_states = []
    for i, state in enumerate(states):
      state, x = make_cell(self.cell, self.hidden_size, f"cell_{i}")(state, x)
      x = nn.Dropout(self.dropout, deterministic=not self.train)(x)
      new_states.append(state)
    logits = nn.Dense(self.vocab_size, name="logits")(x)
    return (tuple(new_states), jnp.argmax(logits, -1).astype(jnp.int32)), logits


class EncoderDecoder(nn.Module):
  """Sutskever/Cho encoder-decoder with teacher forcing and greedy decoding."""
  vocab_size: int
  cell: str = "lstm"
  hidden_size: int = 128
  encoder_layers: int = 1
  decoder_layers: int = 1
  bidirectional: bool = False
  dropout: float = 0.0
  embed_dim: int = 0

  @nn.compact
  def __call__(self, inputs, input_lengths, targets, *, train=False, greedy=False):
    x = TokenInput(self.vocab_size, self.embed_dim, name="source_input")(inputs)
    _, finals = Encoder(self.cell, self.hidden_size, self.encoder_layers, self.bidirectional,
                        self.dropout)(x, input_lengths, train)
    states = self.initial_states(finals, inputs.shape[0])
    batch = inputs.shape[0]
    bos = jnp.full((batch, 1), vocab_lib.BOS, jnp.int32)
    decoder_inputs = jnp.concatenate([bos, targets[:, :-1]], axis=1)
    decoder = nn.scan(DecoderStep, variable_broadcast="params",
                      split_rngs={"params": False, "dropout": True}, in_axes=1, out_axes=1)(
                          self.vocab_size, self.cell, self.hidden_size, self.dropout,
                          self.embed_dim, teacher_force=not greedy, train=train, name="decoder")
    _, logits = decoder((states, bos[:, 0]), decoder_inputs)
    return logits

  def initial_states(self, finals, batch):
    def bridge(i, fwd, bwd):
      if not self.bidirectional:
        return fwd
      return jax.tree.map(
          lambda f, b, name: nn.Dense(self.hidden_size, name=f"bridge_{i}_{name}")(
              jnp.concatenate([f, b], -1)),
          fwd, bwd, ("c", "h") if self.cell == "lstm" else "h")

    zeros = jnp.zeros((batch, self.hidden_size), jnp.float32)
    empty = (zeros, zeros) if self.cell == "lstm" else zeros
    states = [empty] * self.decoder_layers
    matched = min(self.encoder_layers, self.decoder_layers)
    for k in range(1, matched + 1):  # Top layers first.
      final = finals[-k]
      fwd, bwd = final if self.bidirectional else (final, None)
      states[-k] = bridge(self.encoder_layers - k, fwd, bwd)
    return tuple(states)


MODELS = {"repeat": RepeatModel, "encoder_decoder": EncoderDecoder}


def build(model_config, vocab_size: int) -> nn.Module:
  return MODELS[model_config.name](
      vocab_size=vocab_size, cell=model_config.cell, hidden_size=model_config.hidden_size,
      encoder_layers=model_config.encoder_layers, decoder_layers=model_config.decoder_layers,
      bidirectional=model_config.bidirectional, dropout=model_config.dropout,
      embed_dim=model_config.embed_dim)
