"""The two seq2seq architectures, as flax.linen modules that take a batch dict.

  model.apply({"params": params}, batch, train=False, teacher_force=True) -> logits

batch["targets"]: int32 [batch, target_length], answer ids + EOS, PAD-padded (only their
shape is read when not teacher-forcing); the logits are float32 [batch, target_length,
vocab_size]. The input side is the task's: a `source` factory (from the task) makes the
module that turns the batch's inputs into features [batch, length, dim] and lengths
[batch], e.g. `TokenInput` reading batch["inputs"] (int32 [batch, query_length], token ids,
PAD-padded) and batch["input_lengths"] (int32 [batch]). The stacked (bi)RNN encoder, the
decoder, the loss and the search are the same for every task.

`repeat` (Keras addition_rnn): the encoder's last output, repeated once per
output step, is the input of a decoder that returns sequences.

`encoder_decoder` (Sutskever 2014, Cho 2014): each encoder layer's final state
initialises a decoder layer (with no encoder layers, the input features themselves are
the memory and their mean starts every decoder layer: Show and Tell, and with attention
Show, Attend and Tell); the decoder reads the previous target token
(teacher forcing) in training, or its own previous prediction with `teacher_force=False`.
It decodes step by step (`STEPWISE`), so beam search and sampling apply to it.

Bidirectional encoders: every encoder layer runs forward and backward over the
real tokens (padding is skipped in both directions) and passes the
concatenation of both outputs to the next layer. For `repeat`, the decoder
input is [forward final output, backward final output] (Keras's `concat`).
For `encoder_decoder`, a decoder layer's initial state is a learned linear map
of the concatenated forward and backward final states of its encoder layer.
Encoder layers are matched to decoder layers from the top: the top decoder
layer starts from the top encoder layer; extra decoder layers start from zeros.

Dropout (training only) draws each example's mask from the dropout rng and the example's
`example_ids` entry, int32 [batch]: its row in the global batch (default: its row here).
A global batch split over devices thus gets the masks it would get on one device.
"""

import functools
from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from s2s import vocab as vocab_lib


def make_cell(kind: str, size: int, name: str):
  return nn.OptimizedLSTMCell(size, name=name) if kind == "lstm" else nn.GRUCell(size, name=name)


def carry_output(kind: str, carry):
  """The output h held in a cell's carry ((c, h) for an LSTM, h for a GRU)."""
  return carry[1] if kind == "lstm" else carry


class Dropout(nn.Module):
  """nn.Dropout whose mask for row b is drawn from fold_in(dropout rng, example_ids[b]): a
  function of the example (and of the rng, so of the step and the time step in a scan),
  not of the batch or device the row is in. Rate 0 returns x, as nn.Dropout does."""
  rate: float

  @nn.compact
  def __call__(self, x, example_ids, deterministic: bool):
    """x: float [B, ...]; example_ids: int32 [B] or None (= arange(B))."""
    if self.rate == 0.0 or deterministic:
      return x
    if example_ids is None:
      example_ids = jnp.arange(x.shape[0], dtype=jnp.int32)
    rng = self.make_rng("dropout")
    keep = 1.0 - self.rate
    masks = jax.vmap(lambda i: jax.random.bernoulli(jax.random.fold_in(rng, i), keep,
                                                    x.shape[1:]))(example_ids)
    return jnp.where(masks, x / keep, jnp.zeros_like(x))


def _embed(vocab_size: int, embed_dim: int, ids):
  """One-hot ids (embed_dim == 0, as Keras) or a learned embedding (an `Embed_0` of the
  calling module)."""
  if embed_dim:
    return nn.Embed(vocab_size, embed_dim)(ids)
  return jax.nn.one_hot(ids, vocab_size, dtype=jnp.float32)


class TokenEmbed(nn.Module):
  """Token ids int32 [...] -> float32 [..., D] (the decoder's previous token)."""
  vocab_size: int
  embed_dim: int

  @nn.compact
  def __call__(self, ids):
    return _embed(self.vocab_size, self.embed_dim, ids)


class TokenInput(nn.Module):
  """The input side of text tasks: batch["inputs"] int32 [B, L] and batch["input_lengths"]
  int32 [B] -> (vectors float32 [B, L, D], lengths int32 [B])."""
  vocab_size: int
  embed_dim: int

  @nn.compact
  def __call__(self, batch, train: bool = False):
    del train
    return _embed(self.vocab_size, self.embed_dim, batch["inputs"]), batch["input_lengths"]


class ImageInput(nn.Module):
  """The input side of image tasks: batch["image"] uint8 [B, H, W, C] -> (regions float32
  [B, R, D], lengths int32 [B] (all R)).

  A small CNN trained end to end: `blocks` blocks of two 3x3 convolutions (ReLU) and a 2x2
  max pool, `width` channels in the first block, doubled in each next one, so D = width *
  2**(blocks - 1) and the grid is (H // 2**blocks) x (W // 2**blocks). The grid's cells are
  the regions, listed column by column (left to right, top to bottom within a column) so
  that an RNN encoder reads the image as text is read; each region gets a learned position
  embedding, without which attention could not tell the left digit from the right one.
  """
  width: int
  blocks: int

  @nn.compact
  def __call__(self, batch, train: bool = False):
    del train
    x = batch["image"].astype(jnp.float32) / 255.0
    for i in range(self.blocks):
      for j in range(2):
        x = nn.relu(nn.Conv(self.width * 2**i, (3, 3), name=f"conv_{i}_{j}")(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2))
    regions = jnp.swapaxes(x, 1, 2).reshape(x.shape[0], -1, x.shape[-1])  # Column-major.
    return Positions(name="positions")(regions), jnp.full((x.shape[0],), regions.shape[1], jnp.int32)


class FeatureInput(nn.Module):
  """Precomputed CNN features: batch["features"] float32 [B, R, C] (R = 1 for a global
  vector such as AlexNet's fc7) -> (a linear map of each region to `dim` plus a learned
  position embedding [B, R, dim], lengths int32 [B] (all R))."""
  dim: int

  @nn.compact
  def __call__(self, batch, train: bool = False):
    del train
    x = nn.Dense(self.dim, name="project")(batch["features"].astype(jnp.float32))
    return Positions(name="positions")(x), jnp.full((x.shape[0],), x.shape[1], jnp.int32)


class SpeechInput(nn.Module):
  """The input side of speech tasks, Listen, Attend and Spell's listener front end:
  batch["features"] float [B, T, M] log-mel frames (padded) and batch["feature_lengths"]
  int32 [B] -> (vectors float32 [B, ceil(T / 2**layers), dim], lengths int32 [B]).

  Each utterance's real frames are normalised to zero mean and unit variance per mel bin
  (per-utterance CMVN, so a louder recording or another microphone changes nothing). In
  training, SpecAugment (Park 2019) masks `freq_masks` bands of up to `freq_width` bins and
  `time_masks` spans of up to `time_width` frames (each at most a fifth of the utterance, its
  LD policy) with the mean, an example's masks drawn from the dropout rng folded with its
  example id. Then `layers` 3x3 convolutions of stride 2 (ReLU, `channels` each; ESPnet's
  Conv2dSubsampling) cut time and frequency by 2**layers, and a linear map gives `dim` per
  frame.
  """
  channels: int
  layers: int
  dim: int
  freq_masks: int = 0
  freq_width: int = 0
  time_masks: int = 0
  time_width: int = 0

  @nn.compact
  def __call__(self, batch, train: bool = False):
    x = batch["features"].astype(jnp.float32)
    lengths = batch["feature_lengths"].astype(jnp.int32)
    real = (jnp.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
    count = jnp.maximum(lengths, 1)[:, None, None].astype(jnp.float32)
    mean = jnp.sum(x * real, 1, keepdims=True) / count
    var = jnp.sum(jnp.square(x - mean) * real, 1, keepdims=True) / count
    x = (x - mean) * jax.lax.rsqrt(var + 1e-5) * real
    if train and (self.freq_masks or self.time_masks):
      example_ids = batch.get("example_ids")
      if example_ids is None:
        example_ids = jnp.arange(x.shape[0], dtype=jnp.int32)
      rng = self.make_rng("dropout")
      keep = jax.vmap(lambda i, n: spec_augment_mask(
          jax.random.fold_in(rng, i), n, x.shape[1], x.shape[2], self.freq_masks,
          self.freq_width, self.time_masks, self.time_width))(example_ids, lengths)
      x = x * keep
    x = x[..., None]
    for i in range(self.layers):
      x = nn.relu(nn.Conv(self.channels, (3, 3), strides=(2, 2), padding="SAME",
                          name=f"conv_{i}")(x))
      lengths = (lengths + 1) // 2
    x = x.reshape(x.shape[0], x.shape[1], -1)
    # No position embedding: length buckets give batches of any length, and the listener's
    # LSTM knows the order.
    return nn.Dense(self.dim, name="project")(x), lengths


def spec_augment_mask(key, length, frames: int, bins: int, freq_masks: int, freq_width: int,
                      time_masks: int, time_width: int):
  """SpecAugment's masks for one utterance: float32 [frames, bins], 0 where masked.

  Each frequency mask is `w` ~ U{0..freq_width} consecutive bins starting anywhere they fit;
  each time mask `t` ~ U{0..time_width} frames, at most length // 5, within the utterance's
  `length` real frames (int32 scalar)."""
  k_fw, k_f0, k_tw, k_t0 = jax.random.split(key, 4)
  bin_index, frame_index = jnp.arange(bins), jnp.arange(frames)
  keep = jnp.ones((frames, bins), jnp.float32)
  if freq_masks:
    width = jax.random.randint(k_fw, (freq_masks,), 0, freq_width + 1)
    start = jax.random.randint(k_f0, (freq_masks,), 0, bins - width + 1)
    hit = ((bin_index >= start[:, None]) & (bin_index < (start + width)[:, None])).any(0)
    keep = keep * (1.0 - hit.astype(jnp.float32))[None, :]
  if time_masks:
    width = jnp.minimum(jax.random.randint(k_tw, (time_masks,), 0, time_width + 1), length // 5)
    start = jax.random.randint(k_t0, (time_masks,), 0, jnp.maximum(length - width, 0) + 1)
    hit = ((frame_index >= start[:, None]) & (frame_index < (start + width)[:, None])).any(0)
    keep = keep * (1.0 - hit.astype(jnp.float32))[:, None]
  return keep


class Positions(nn.Module):
  """x [B, R, D] + a learned embedding of each position [R, D]."""

  @nn.compact
  def __call__(self, x):
    return x + self.param("embedding", nn.initializers.normal(0.02), x.shape[1:], jnp.float32)


def grid_shape(height: int, width: int, blocks: int) -> tuple[int, int]:
  """(rows, columns) of ImageInput's region grid for an image of height x width."""
  return height // 2**blocks, width // 2**blocks


class Encoder(nn.Module):
  """Stacked (bidirectional) RNN; returns outputs [B, L, H or 2H] and each layer's final carry.
  With num_layers = 0 it returns its input and no carries."""
  cell: str
  hidden_size: int
  num_layers: int
  bidirectional: bool
  dropout: float

  @nn.compact
  def __call__(self, x, lengths, train: bool, example_ids=None):
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
      x = Dropout(self.dropout)(y, example_ids, deterministic=not train)
    return x, finals


class RepeatModel(nn.Module):
  """Keras addition_rnn: encoder -> RepeatVector -> decoder returning sequences -> Dense."""
  STEPWISE = False  # Its decoder never reads its own outputs: greedy only.
  vocab_size: int
  source: Callable[[], nn.Module]  # The task's input module (see the module docstring).
  cell: str = "lstm"
  hidden_size: int = 128
  encoder_layers: int = 1
  decoder_layers: int = 1
  bidirectional: bool = False
  dropout: float = 0.0
  embed_dim: int = 0

  @nn.compact
  def __call__(self, batch, *, train=False, teacher_force=True):
    del teacher_force  # The repeat model never reads its own predictions.
    example_ids = batch.get("example_ids")
    x, lengths = self.source()(batch, train=train)
    _, finals = Encoder(self.cell, self.hidden_size, self.encoder_layers, self.bidirectional,
                        self.dropout)(x, lengths, train, example_ids)
    last = finals[-1]
    if self.bidirectional:
      summary = jnp.concatenate([carry_output(self.cell, c) for c in last], axis=-1)
    else:
      summary = carry_output(self.cell, last)
    y = jnp.repeat(summary[:, None, :], batch["targets"].shape[1], axis=1)
    for i in range(self.decoder_layers):
      y = nn.RNN(make_cell(self.cell, self.hidden_size, f"decoder_{i}"))(y)
      y = Dropout(self.dropout)(y, example_ids, deterministic=not train)
    return nn.Dense(self.vocab_size, name="logits")(y)


class Decoder(nn.Module):
  """One decoder time step, optionally attending over the encoder's outputs (the memory).

  attention "none": x_t = [y_{t-1}], logits from h_t (Sutskever 2014).
  "bahdanau" (additive, Bahdanau 2015): the previous top state h_{t-1} scores every source
    position, score_j = v . tanh(W h_{t-1} + U m_j); x_t = [y_{t-1}, c_t]; logits from [h_t, c_t].
  "luong" ("general", with input feeding, Luong 2015): h_t from x_t = [y_{t-1}, a_{t-1}];
    score_j = h_t . W m_j; a_t = tanh(W_c [c_t, h_t]); logits from a_t.
  c_t is the softmax(score)-weighted sum of the memory; padded source positions get weight 0.
  The carry is (per-layer cell states, a_{t-1}); a is unused without Luong attention.
  """
  vocab_size: int
  cell: str
  hidden_size: int
  num_layers: int
  dropout: float
  embed_dim: int
  attention: str = "none"
  attention_size: int = 0  # 0 = hidden_size.

  def setup(self):
    self.token_input = TokenEmbed(self.vocab_size, self.embed_dim)
    self.cells = [make_cell(self.cell, self.hidden_size, f"cell_{i}")
                  for i in range(self.num_layers)]
    self.drop = Dropout(self.dropout)
    size = self.attention_size or self.hidden_size
    if self.attention == "bahdanau":
      self.key_proj = nn.Dense(size, use_bias=False)  # U
      self.query_proj = nn.Dense(size, use_bias=False)  # W
      self.energy = nn.Dense(1, use_bias=False)  # v
    elif self.attention == "luong":
      self.key_proj = nn.Dense(self.hidden_size, use_bias=False)  # W
      self.combine = nn.Dense(self.hidden_size, use_bias=False)  # W_c
    self.logits = nn.Dense(self.vocab_size)

  def keys(self, memory):
    """The memory's projections, computed once per sequence rather than once per step."""
    return self.key_proj(memory) if self.attention != "none" else memory[..., :0]

  def attend(self, query, keys, memory, mask):
    if self.attention == "bahdanau":
      scores = self.energy(jnp.tanh(keys + self.query_proj(query)[:, None, :]))[..., 0]
    else:
      scores = jnp.einsum("bh,blh->bl", query, keys)
    scores = jnp.where(mask, scores, -1e9)
    weights = jax.nn.softmax(scores, axis=-1)
    return jnp.einsum("bl,blh->bh", weights, memory), weights

  def __call__(self, carry, token, memory, keys, mask, train: bool = False, example_ids=None):
    """-> (new carry, logits [B, V], attention weights [B, L] (zeros without attention))."""
    states, feed = carry
    x = self.token_input(token)
    weights = jnp.zeros(mask.shape, jnp.float32)
    if self.attention == "bahdanau":
      context, weights = self.attend(carry_output(self.cell, states[-1]), keys, memory, mask)
      x = jnp.concatenate([x, context], -1)
    elif self.attention == "luong":
      x = jnp.concatenate([x, feed], -1)
    new_states = []
    for cell, state in zip(self.cells, states):
      state, x = cell(state, x)
      x = self.drop(x, example_ids, deterministic=not train)
      new_states.append(state)
    if self.attention == "bahdanau":
      x = jnp.concatenate([x, context], -1)
    elif self.attention == "luong":
      context, weights = self.attend(x, keys, memory, mask)
      x = feed = jnp.tanh(self.combine(jnp.concatenate([context, x], -1)))
      x = self.drop(x, example_ids, deterministic=not train)
    return (tuple(new_states), feed), self.logits(x), weights


def _decode_body(decoder, carry, token, memory, keys, mask, example_ids, *, teacher_force,
                 train):
  """A scan step: feed the target token (teacher forcing) or the previous prediction."""
  carry, previous = carry
  carry, logits, weights = decoder(carry, token if teacher_force else previous, memory, keys,
                                   mask, train, example_ids)
  return (carry, jnp.argmax(logits, -1).astype(jnp.int32)), (logits, weights)


class EncoderDecoder(nn.Module):
  """Sutskever/Cho encoder-decoder (optionally with attention): teacher forcing and greedy.

  Besides `__call__`, `encode` and `decode_step` expose the model one step at a time for
  beam search and sampling (s2s.decoding).
  """
  STEPWISE = True  # `encode` + `decode_step`: greedy, beam search and sampling.
  vocab_size: int  # Target vocabulary.
  source: Callable[[], nn.Module]  # The task's input module (see the module docstring).
  cell: str = "lstm"
  hidden_size: int = 128
  encoder_layers: int = 1
  decoder_layers: int = 1
  bidirectional: bool = False
  dropout: float = 0.0
  embed_dim: int = 0
  attention: str = "none"
  attention_size: int = 0
  ctc_weight: float = 0.0

  def setup(self):
    self.source_input = self.source()
    if self.ctc_weight:  # Joint CTC-attention: label scores at every encoder position.
      self.ctc_output = nn.Dense(self.vocab_size, name="ctc_output")
    self.encoder = Encoder(self.cell, self.hidden_size, self.encoder_layers, self.bidirectional,
                           self.dropout)
    self.decoder = Decoder(self.vocab_size, self.cell, self.hidden_size, self.decoder_layers,
                           self.dropout, self.embed_dim, self.attention, self.attention_size)
    if self.bidirectional:  # A decoder layer's start state from both directions' final states.
      parts = ("c", "h") if self.cell == "lstm" else ("h",)
      self.bridges = {
          f"{i}_{part}": nn.Dense(self.hidden_size, name=f"bridge_{i}_{part}")
          for i in range(self.encoder_layers - min(self.encoder_layers, self.decoder_layers),
                         self.encoder_layers) for part in parts}
    if self.encoder_layers == 0:  # Show and Tell: the input's mean feature starts the decoder.
      parts = ("c", "h") if self.cell == "lstm" else ("h",)
      self.starts = {f"{i}_{part}": nn.Dense(self.hidden_size, name=f"start_{i}_{part}")
                     for i in range(self.decoder_layers) for part in parts}

  def encode(self, batch, train: bool = False):
    """-> (decoder carry, memory [B, L, H or 2H], keys, mask [B, L])."""
    x, lengths = self.source_input(batch, train=train)
    memory, finals = self.encoder(x, lengths, train, batch.get("example_ids"))
    mask = jnp.arange(x.shape[1])[None, :] < lengths[:, None]
    feed = jnp.zeros((x.shape[0], self.hidden_size), jnp.float32)
    if self.encoder_layers == 0:
      states = self.start_states(jnp.sum(x * mask[..., None], 1)
                                 / jnp.maximum(lengths, 1)[:, None].astype(jnp.float32))
    else:
      states = self.initial_states(finals, x.shape[0])
    return (states, feed), memory, self.decoder.keys(memory), mask

  def start_states(self, pooled):
    """Every decoder layer's start state from the mean input feature [B, D] (no RNN encoder):
    tanh of a learned linear map per layer and state part (Xu 2015's f_init)."""
    def start(i):
      if self.cell != "lstm":
        return jnp.tanh(self.starts[f"{i}_h"](pooled))
      return tuple(jnp.tanh(self.starts[f"{i}_{part}"](pooled)) for part in ("c", "h"))
    return tuple(start(i) for i in range(self.decoder_layers))

  def decode_step(self, carry, token, memory, keys, mask):
    """One inference step: -> (carry, logits [B, V], attention weights [B, L])."""
    return self.decoder(carry, token, memory, keys, mask, False)

  def __call__(self, batch, *, train=False, teacher_force=True, return_attention=False):
    targets = batch["targets"]
    example_ids = batch.get("example_ids")
    if example_ids is None:
      example_ids = jnp.arange(targets.shape[0], dtype=jnp.int32)
    carry, memory, keys, mask = self.encode(batch | {"example_ids": example_ids}, train)
    if self.ctc_weight and (train or self.is_initializing()):
      self.sow("losses", "ctc", self.ctc_losses(memory, mask, targets))
    bos = jnp.full((targets.shape[0], 1), vocab_lib.BOS, jnp.int32)
    decoder_inputs = jnp.concatenate([bos, targets[:, :-1]], axis=1)
    scan = nn.scan(functools.partial(_decode_body, teacher_force=teacher_force, train=train),
                   variable_broadcast="params", split_rngs={"params": False, "dropout": True},
                   in_axes=(1, nn.broadcast, nn.broadcast, nn.broadcast, nn.broadcast),
                   out_axes=1)
    _, (logits, weights) = scan(self.decoder, (carry, bos[:, 0]), decoder_inputs, memory, keys,
                                mask, example_ids)
    return (logits, weights) if return_attention else logits

  def ctc_losses(self, memory, mask, targets):
    """CTC loss of each example's target labels (its tokens before EOS) under the scores of
    `ctc_output` over the encoder's real positions, PAD as the blank: float32 [B]. Training
    adds `ctc_weight` times their sum to the cross-entropy's (s2s.train.train_step)."""
    logits = self.ctc_output(memory).astype(jnp.float32)
    labels = jnp.where(targets == vocab_lib.EOS, vocab_lib.PAD, targets)
    return optax.ctc_loss(logits, 1.0 - mask.astype(jnp.float32), labels,
                          (labels == vocab_lib.PAD).astype(jnp.float32), blank_id=vocab_lib.PAD)

  def initial_states(self, finals, batch):
    def bridge(i, fwd, bwd):
      if not self.bidirectional:
        return fwd
      return jax.tree.map(
          lambda f, b, part: self.bridges[f"{i}_{part}"](jnp.concatenate([f, b], -1)),
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


def build(model_config, *, vocab_size: int, source: Callable[[], nn.Module]) -> nn.Module:
  """The model a config's `model` fields describe, over the task's input module `source` (a
  factory, e.g. `functools.partial(TokenInput, vocab_size, embed_dim)`); `vocab_size` is the
  target vocabulary's."""
  kwargs = dict(
      vocab_size=vocab_size, source=source, cell=model_config.cell,
      hidden_size=model_config.hidden_size, encoder_layers=model_config.encoder_layers,
      decoder_layers=model_config.decoder_layers, bidirectional=model_config.bidirectional,
      dropout=model_config.dropout, embed_dim=model_config.embed_dim)
  if MODELS[model_config.name].STEPWISE:
    kwargs.update(attention=model_config.attention, attention_size=model_config.attention_size,
                  ctc_weight=model_config.get("ctc_weight", 0.0))  # Absent before CTC.
  return MODELS[model_config.name](**kwargs)
