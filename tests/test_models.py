"""The two architectures: shapes, padding, causality, greedy decoding, dropout, inputs."""

import functools

import jax
import numpy as np
import pytest

from s2s import config as config_lib
from s2s import models
from s2s.vocab import BOS, EOS, PAD

V = 12  # 4 specials + 8 characters.
B, L, T = 3, 6, 5
LENGTHS = np.array([6, 3, 1], np.int32)

# (name, cell, bidirectional, encoder_layers, decoder_layers, embed_dim)
ARCHITECTURES = [
    (name, cell, bidirectional, enc, dec, embed)
    for name in ("repeat", "encoder_decoder")
    for cell, bidirectional, enc, dec, embed in [
        ("lstm", False, 1, 1, 0),
        ("gru", True, 2, 1, 4),
        ("lstm", True, 1, 2, 4),
        ("gru", False, 2, 3, 0),
    ]
]


def arch_id(arch):
  name, cell, bi, enc, dec, embed = arch
  return f"{name}-{cell}-{'bi' if bi else 'uni'}-e{enc}d{dec}-emb{embed}"


def model_config(name, cell="lstm", bidirectional=False, encoder_layers=1, decoder_layers=1,
                 embed_dim=0, dropout=0.0):
  config = config_lib.base_config().model
  config.name = name
  config.cell = cell
  config.hidden_size = 8
  config.bidirectional = bidirectional
  config.encoder_layers = encoder_layers
  config.decoder_layers = decoder_layers
  config.embed_dim = embed_dim
  config.dropout = dropout
  return config


def build_model(config, source_vocab_size=V):
  """The model of a model config over token inputs (a text task's input side)."""
  return models.build(config, vocab_size=V, source=functools.partial(
      models.TokenInput, source_vocab_size, config.embed_dim))


def build(arch, dropout=0.0):
  name, cell, bi, enc, dec, embed = arch
  return build_model(model_config(name, cell, bi, enc, dec, embed, dropout))


def as_batch(inputs, lengths, targets):
  """The batch dict models take."""
  return {"inputs": inputs, "input_lengths": lengths, "targets": targets}


def param_shapes(arch):
  """The parameter tree of a model, as shapes (traced only: nothing runs)."""
  return jax.eval_shape(build(arch).init, jax.random.key(0), as_batch(*batch(0)))["params"]


@functools.lru_cache(maxsize=None)
def init(arch):
  """Random parameters (dropout has none, so they serve every dropout rate).

  Drawn with numpy in the structure `model.init` gives: running `init` op by op
  costs seconds per model, and no test here depends on the initializers.
  """
  rng = np.random.default_rng(0)
  return jax.tree.map(lambda s: rng.normal(0, 0.5, s.shape).astype(np.float32),
                      param_shapes(arch))


@functools.lru_cache(maxsize=None)
def applier(arch, dropout=0.0):
  """apply(params, inputs, lengths, targets, ...) -> numpy logits, jitted as in a train step."""
  model = build(arch, dropout)

  @functools.partial(jax.jit, static_argnames=("train", "greedy"))
  def apply(params, inputs, lengths, targets, train=False, greedy=False, rng=None):
    return model.apply({"params": params}, as_batch(inputs, lengths, targets), train=train,
                       teacher_force=not greedy,
                       rngs={"dropout": rng} if rng is not None else None)

  return lambda *args, **kwargs: np.asarray(apply(*args, **kwargs))


def built(arch):
  return init(arch), applier(arch)


def batch(seed):
  """Random inputs (PAD beyond LENGTHS) and targets (answer + EOS, PAD-padded)."""
  rng = np.random.default_rng(seed)
  inputs = rng.integers(4, V, (B, L)).astype(np.int32)
  inputs[np.arange(L)[None, :] >= LENGTHS[:, None]] = PAD
  targets = rng.integers(4, V, (B, T)).astype(np.int32)
  for b, n in enumerate([4, 2, 0]):
    targets[b, n] = EOS
    targets[b, n + 1:] = PAD
  return inputs, LENGTHS.copy(), targets


def junk_padding(inputs, seed):
  """`inputs` with every position beyond LENGTHS set to random ids (specials included)."""
  rng = np.random.default_rng(seed)
  junk = rng.integers(0, V, inputs.shape).astype(np.int32)
  padded = np.arange(L)[None, :] >= LENGTHS[:, None]
  return np.where(padded, junk, inputs)


def close(a, b):
  return np.allclose(a, b, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=arch_id)
def test_logits_shape_and_padding_independence(arch):
  params, apply = built(arch)
  inputs, lengths, targets = batch(1)
  for greedy in (False, True):
    logits = apply(params, inputs, lengths, targets, greedy=greedy)
    assert logits.shape == (B, T, V)
    assert logits.dtype == np.float32
    assert np.all(np.isfinite(logits))
    for seed in (2, 3):
      other = apply(params, junk_padding(inputs, seed), lengths, targets, greedy=greedy)
      assert close(other, logits), f"padded inputs changed the logits (greedy={greedy})"
    # Not vacuous: a real token (the first, which a backward pass reads last) matters.
    changed = inputs.copy()
    changed[:, 0] = np.where(inputs[:, 0] == 4, 5, 4)
    moved = apply(params, changed, lengths, targets, greedy=greedy)
    for b in range(B):
      assert not close(moved[b], logits[b]), (b, greedy)


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=arch_id)
def test_the_last_real_token_matters(arch):
  params, apply = built(arch)
  inputs, lengths, targets = batch(4)
  last = LENGTHS - 1
  changed = inputs.copy()
  changed[np.arange(B), last] = np.where(inputs[np.arange(B), last] == 4, 5, 4)
  logits = apply(params, inputs, lengths, targets)
  moved = apply(params, changed, lengths, targets)
  for b in range(B):
    assert not close(moved[b], logits[b]), b


@pytest.mark.parametrize("arch", [a for a in ARCHITECTURES if a[0] == "encoder_decoder"],
                         ids=arch_id)
def test_teacher_forcing_is_causal(arch):
  params, apply = built(arch)
  inputs, lengths, targets = batch(5)
  logits = apply(params, inputs, lengths, targets)
  rng = np.random.default_rng(6)
  for t in range(T):
    other = targets.copy()
    other[:, t:] = rng.integers(0, V, (B, T - t))
    other_logits = apply(params, inputs, lengths, other)
    assert close(other_logits[:, :t + 1], logits[:, :t + 1]), f"step <= {t} read targets >= {t}"
  # Teacher forcing does read the previous target: step 1 sees targets[:, 0].
  other = targets.copy()
  other[:, 0] = np.where(targets[:, 0] == 4, 5, 4)
  other_logits = apply(params, inputs, lengths, other)
  assert close(other_logits[:, 0], logits[:, 0])
  for b in range(B):
    assert not close(other_logits[b, 1], logits[b, 1]), b


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=arch_id)
def test_greedy_decoding_ignores_targets(arch):
  params, apply = built(arch)
  inputs, lengths, targets = batch(7)
  _, _, other_targets = batch(8)
  assert not np.array_equal(targets, other_targets)
  greedy = apply(params, inputs, lengths, targets, greedy=True)
  other = apply(params, inputs, lengths, other_targets, greedy=True)
  assert close(greedy, other)
  noise = apply(params, inputs, lengths, np.full_like(targets, PAD), greedy=True)
  assert close(greedy, noise)


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=arch_id)
def test_greedy_equals_teacher_forcing_on_its_own_predictions(arch):
  params, apply = built(arch)
  inputs, lengths, targets = batch(9)
  greedy = apply(params, inputs, lengths, targets, greedy=True)
  predictions = greedy.argmax(-1).astype(np.int32)
  forced = apply(params, inputs, lengths, predictions)
  np.testing.assert_allclose(forced, greedy, atol=1e-5, rtol=1e-5)
  np.testing.assert_array_equal(forced.argmax(-1), predictions)


def test_greedy_first_step_reads_bos():
  arch = ("encoder_decoder", "lstm", False, 1, 1, 0)
  params, apply = built(arch)
  inputs, lengths, targets = batch(10)
  greedy = apply(params, inputs, lengths, targets, greedy=True)
  forced = apply(params, inputs, lengths, targets)
  # Step 0 reads BOS in both modes, so the first logits agree whatever the targets.
  assert close(greedy[:, 0], forced[:, 0])
  assert BOS not in targets


@pytest.mark.parametrize("arch", [ARCHITECTURES[3], ARCHITECTURES[6]], ids=arch_id)
def test_dropout_acts_only_in_training(arch):
  params, apply = built(arch)
  dropout_apply = applier(arch, dropout=0.5)
  inputs, lengths, targets = batch(11)
  reference = apply(params, inputs, lengths, targets)
  # Same parameters (dropout has none); without train it is the model without dropout.
  evaluated = dropout_apply(params, inputs, lengths, targets, train=False,
                            rng=jax.random.key(1))
  assert close(evaluated, reference)
  trained = dropout_apply(params, inputs, lengths, targets, train=True, rng=jax.random.key(1))
  assert not close(trained, reference)
  again = dropout_apply(params, inputs, lengths, targets, train=True, rng=jax.random.key(1))
  assert close(again, trained)
  other = dropout_apply(params, inputs, lengths, targets, train=True, rng=jax.random.key(2))
  assert not close(other, trained)
  # A model with dropout=0 ignores train.
  assert close(apply(params, inputs, lengths, targets, train=True, rng=jax.random.key(1)),
               reference)


def param_paths(arch):
  """Shape of every parameter, by path."""
  return {"/".join(str(getattr(k, "key", k)) for k in path): leaf.shape
          for path, leaf in jax.tree_util.tree_leaves_with_path(param_shapes(arch))}


@pytest.mark.parametrize("name", ["repeat", "encoder_decoder"])
def test_one_hot_or_learned_embedding(name):
  one_hot_paths = param_paths((name, "lstm", False, 1, 1, 0))
  embedded_paths = param_paths((name, "lstm", False, 1, 1, 4))
  assert not any("embedding" in p for p in one_hot_paths)
  embeddings = {p: s for p, s in embedded_paths.items() if "embedding" in p}
  # The encoder embeds the query; the encoder-decoder's decoder embeds previous tokens too.
  assert len(embeddings) == (2 if name == "encoder_decoder" else 1)
  assert all(s == (V, 4) for s in embeddings.values())
  # The first encoder layer's input kernels read V one-hot features or 4 embedded ones.
  first = [p for p in one_hot_paths if "/forward_0/i" in p and p.endswith("kernel")]
  assert len(first) == 4
  assert all(one_hot_paths[p][0] == V for p in first)
  assert all(embedded_paths[p][0] == 4 for p in first)


@pytest.mark.parametrize("name", ["repeat", "encoder_decoder"])
def test_bidirectional_adds_a_backward_encoder(name):
  uni = param_paths((name, "gru", False, 2, 1, 0))
  bi = param_paths((name, "gru", True, 2, 3, 0))
  assert not any("backward" in p for p in uni)
  assert any("backward_0" in p for p in bi) and any("backward_1" in p for p in bi)
  # The second layer reads both directions of the first.
  second = [p for p in bi if "/forward_1/i" in p and p.endswith("kernel")]
  assert len(second) == 3
  assert all(bi[p][0] == 16 for p in second)


@pytest.mark.parametrize("arch", [a for a in ARCHITECTURES if a[2]], ids=arch_id)
def test_backward_direction_reaches_the_logits(arch):
  params, apply = built(arch)
  inputs, lengths, targets = batch(14)
  no_backward = jax.tree_util.tree_map_with_path(
      lambda path, x: 0 * x if "backward" in jax.tree_util.keystr(path) else x, params)
  for greedy in (False, True):
    logits = apply(params, inputs, lengths, targets, greedy=greedy)
    without = apply(no_backward, inputs, lengths, targets, greedy=greedy)
    for b in range(B):
      assert not close(without[b], logits[b]), (b, greedy)


def test_model_init_gives_working_parameters():
  arch = ("encoder_decoder", "gru", True, 1, 1, 0)
  inputs, lengths, targets = batch(12)
  # Jitted, as the training loop initializes.
  params = jax.jit(build(arch).init)(jax.random.key(0),
                                     as_batch(inputs, lengths, targets))["params"]
  assert jax.tree.map(np.shape, params) == jax.tree.map(lambda s: s.shape, param_shapes(arch))
  apply = applier(arch)
  logits = apply(params, inputs, lengths, targets)
  assert logits.shape == (B, T, V) and np.all(np.isfinite(logits))
  assert close(apply(params, junk_padding(inputs, 13), lengths, targets), logits)


# Attention: (attention, cell, bidirectional, encoder_layers, decoder_layers)
ATTENTION = [("bahdanau", "lstm", False, 1, 1), ("luong", "lstm", True, 2, 2),
             ("bahdanau", "gru", True, 1, 2), ("luong", "gru", False, 1, 1)]
SOURCE_V = 9  # A source vocabulary of another size than the target's.


@functools.lru_cache(maxsize=None)
def attention_model(spec):
  attention, cell, bi, enc, dec = spec
  config = model_config("encoder_decoder", cell, bi, enc, dec, embed_dim=4)
  config.attention = attention
  model = build_model(config, source_vocab_size=SOURCE_V)
  inputs, lengths, targets = batch(20)
  inputs = np.minimum(inputs, SOURCE_V - 1)
  params = jax.jit(model.init)(jax.random.key(1), as_batch(inputs, lengths, targets))["params"]
  return model, params, (inputs, lengths, targets)


@pytest.mark.parametrize("spec", ATTENTION, ids=lambda s: "-".join(map(str, s)))
def test_attention_weights_are_a_distribution_over_real_source_tokens(spec):
  model, params, (inputs, lengths, targets) = attention_model(spec)
  # One compiled program per mode, rather than each operation compiled on its own.
  apply = jax.jit(model.apply, static_argnames=("teacher_force", "return_attention"))
  for greedy in (False, True):
    logits, weights = apply({"params": params}, as_batch(inputs, lengths, targets),
                            teacher_force=not greedy, return_attention=True)
    assert logits.shape == (B, T, V) and weights.shape == (B, T, L)
    weights = np.asarray(weights)
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)
    padded = np.arange(L)[None, None, :] >= LENGTHS[:, None, None]
    assert np.all(weights[np.broadcast_to(padded, weights.shape)] == 0)
    # Attention is not uniform: it depends on the source tokens.
    assert not np.allclose(weights[0], 1 / LENGTHS[0], atol=1e-4)
  # Junk in padded source positions changes nothing.
  junk = np.minimum(junk_padding(inputs, 21), SOURCE_V - 1)
  for greedy in (False, True):
    np.testing.assert_allclose(
        apply({"params": params}, as_batch(junk, lengths, targets), teacher_force=not greedy),
        apply({"params": params}, as_batch(inputs, lengths, targets), teacher_force=not greedy),
        atol=1e-6)


@pytest.mark.parametrize("spec", ATTENTION[:2], ids=lambda s: "-".join(map(str, s)))
def test_decode_step_by_step_equals_the_greedy_scan(spec):
  model, params, (inputs, lengths, targets) = attention_model(spec)
  greedy = np.asarray(model.apply({"params": params}, as_batch(inputs, lengths, targets),
                                  teacher_force=False))
  carry, memory, keys, mask = model.apply(
      {"params": params}, {"inputs": inputs, "input_lengths": lengths}, method=model.encode)
  token = np.full((B,), BOS, np.int32)
  for t in range(T):
    carry, logits, _ = model.apply({"params": params}, carry, token, memory, keys, mask,
                                   method=model.decode_step)
    np.testing.assert_allclose(logits, greedy[:, t], atol=1e-5)
    token = np.argmax(logits, -1).astype(np.int32)


def test_attention_parameters_and_source_vocabulary():
  shapes = lambda spec: jax.tree.map(np.shape, attention_model(spec)[1])
  bahdanau = shapes(ATTENTION[0])
  assert bahdanau["source_input"]["Embed_0"]["embedding"] == (SOURCE_V, 4)
  assert bahdanau["decoder"]["token_input"]["Embed_0"]["embedding"] == (V, 4)
  # v . tanh(W h + U m): U reads the memory (H=8), W the decoder state, v makes a score.
  assert bahdanau["decoder"]["key_proj"]["kernel"] == (8, 8)
  assert bahdanau["decoder"]["query_proj"]["kernel"] == (8, 8)
  assert bahdanau["decoder"]["energy"]["kernel"] == (8, 1)
  # The first decoder cell reads [embedding, context] = 4 + 8.
  assert bahdanau["decoder"]["cell_0"]["ii"]["kernel"] == (12, 8)
  luong = shapes(ATTENTION[1])  # Bidirectional: a 16-wide memory.
  assert luong["decoder"]["key_proj"]["kernel"] == (16, 8)
  assert luong["decoder"]["combine"]["kernel"] == (16 + 8, 8)
  assert luong["decoder"]["cell_0"]["ii"]["kernel"] == (4 + 8, 8)  # Input feeding.
  none = model_config("encoder_decoder", embed_dim=4)
  params = jax.eval_shape(build_model(none).init, jax.random.key(0),
                          as_batch(*batch(0)))["params"]
  assert "key_proj" not in params["decoder"]


# Joint CTC-attention (config.model.ctc_weight) --------------------------------------------------

def _ctc_model(ctc_weight=0.5):
  config = model_config("encoder_decoder", bidirectional=True)
  config.ctc_weight = ctc_weight
  return build_model(config)


def test_ctc_loss_is_the_sum_over_every_alignment_of_the_labels():
  """The encoder-side CTC loss, checked against brute force: -log of the summed probability of
  every per-position path (PAD is the blank) that collapses to the target's labels; EOS is not
  a label and padded encoder positions are not read."""
  model = _ctc_model()
  rng = np.random.default_rng(0)
  frames, width = 4, 2 * 8  # The bidirectional encoder's memory: [B, L, 2H].
  memory = rng.normal(0, 1, (2, frames, width)).astype(np.float32)
  mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool)  # The second utterance has 3 frames.
  targets = np.array([[5, 5, EOS], [6, EOS, PAD]], np.int32)
  kernel = rng.normal(0, 1, (width, V)).astype(np.float32)
  params = {"ctc_output": {"kernel": kernel, "bias": np.zeros(V, np.float32)}}
  losses = model.apply({"params": params}, memory, mask, targets,
                       method=models.EncoderDecoder.ctc_losses)

  def brute_force(logits, labels):
    log_probs = jax.nn.log_softmax(logits)
    total = 0.0
    for path in np.ndindex(*([V] * len(logits))):
      collapsed = [c for i, c in enumerate(path) if c != PAD and (i == 0 or path[i - 1] != c)]
      if collapsed == labels:
        total += np.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
    return -np.log(total)

  logits = memory @ kernel
  # "5 5" needs a blank between the two 5s: 3 of the 4 frames at least.
  np.testing.assert_allclose(losses, [brute_force(logits[0], [5, 5]),
                                      brute_force(logits[1, :3], [6])], rtol=1e-4)


def test_ctc_adds_its_weighted_loss_to_training_only():
  """With ctc_weight > 0 the model sows each example's CTC loss in training, and only then: the
  logits, evaluation and decoding are those of the same model without it."""
  inputs, lengths, targets = batch(0)
  model, plain = _ctc_model(0.5), _ctc_model(0.0)
  params = model.init(jax.random.key(0), as_batch(inputs, lengths, targets))["params"]
  assert params["ctc_output"]["kernel"].shape == (16, V)
  _, sown = model.apply({"params": params}, as_batch(inputs, lengths, targets), train=True,
                        rngs={"dropout": jax.random.key(1)}, mutable=["losses"])
  ctc, = sown["losses"]["ctc"]
  assert ctc.shape == (B,) and np.all(np.isfinite(ctc)) and np.all(np.asarray(ctc) > 0)
  _, sown = model.apply({"params": params}, as_batch(inputs, lengths, targets),
                        mutable=["losses"])
  assert "losses" not in sown
  without = {k: v for k, v in params.items() if k != "ctc_output"}
  for greedy in (False, True):
    np.testing.assert_array_equal(
        model.apply({"params": params}, as_batch(inputs, lengths, targets),
                    teacher_force=not greedy),
        plain.apply({"params": without}, as_batch(inputs, lengths, targets),
                    teacher_force=not greedy))


def test_ctc_needs_an_encoder_decoder():
  config = config_lib.base_config()
  config.model.ctc_weight = 0.3
  with pytest.raises(config_lib.UserError, match="ctc_weight.*encoder_decoder"):
    config_lib.check(config, 1)
