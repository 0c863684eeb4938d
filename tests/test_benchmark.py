"""The benchmark: its FLOP count (which GFLOP/s and peak fractions rest on) and its output."""

import collections
import glob
import json
import os
import sys

import numpy as np
import pytest

from s2s import arithmetic as s2s_arithmetic
from s2s import config as config_lib
from s2s import vocab as vocab_lib
from s2s.tasks import arithmetic

from conftest import ROOT, command_env, run
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import benchmark  # pylint: disable=wrong-import-position


def test_keras_recipe_costs_what_the_keras_shapes_imply():
  # Keras addition_rnn: 12 characters, queries of 7, answers of 4, LSTM 128:
  # forward 2*(12+128)*512*7 + 2*256*512*4 + 2*128*12*4 FLOPs, training 3x that: 6.2 MFLOP.
  vocab = vocab_lib.CharVocab("01234567")
  task = arithmetic.Task(vocab, vocab, 7, 4, True)
  assert vocab.size == 12
  model = config_lib.base_config().model
  flops = benchmark.training_flops_per_example(model, task)
  assert flops == 3 * (2 * 140 * 512 * 7 + 2 * 256 * 512 * 4 + 2 * 128 * 12 * 4)
  assert flops / 1e6 == pytest.approx(6.2, abs=0.05)


def test_bidirectional_gru_encoder_decoder_count():
  vocab = vocab_lib.CharVocab("0123456789+-")
  task = arithmetic.Task(vocab, vocab, 11, 8, True)
  model = config_lib.base_config().model
  model.update(name="encoder_decoder", cell="gru", hidden_size=64, bidirectional=True,
               encoder_layers=2, decoder_layers=1, embed_dim=8)
  forward = (2 * 2 * (8 + 64) * 192 * 11 + 2 * 2 * (128 + 64) * 192 * 11  # encoder layers
             + 2 * (8 + 64) * 192 * 8  # decoder reads embedded tokens
             + 2 * 64 * 16 * 8)  # output Dense
  assert benchmark.training_flops_per_example(model, task) == 3 * forward


@pytest.mark.slow
def test_keras_section_reports_its_figures_and_writes_a_profile(tmp_path, data_dir):
  """`benchmark.py --only keras --profile DIR`: the table's figures and a trace to open."""
  result = run(
      [sys.executable, "scripts/benchmark.py", "--only", "keras", "--repeats", "1", "--json",
       "--keras_steps", "32", "--profile", str(tmp_path / "trace"), f"--data_dir={data_dir}"],
      cwd=ROOT, capture_output=True, text=True, timeout=600,
      env=command_env())
  assert result.returncode == 0, result.stderr
  out = json.loads(result.stdout)
  keras = out["keras"]
  assert keras["steps_per_epoch"] == 45_000 // 32  # The Keras training set, batch 32.
  for k in (16, 1):
    assert keras[f"s_per_epoch@k={k}"] == pytest.approx(
        keras[f"step_ms@k={k}"] / 1e3 * keras["steps_per_epoch"])
    assert keras[f"examples_per_s@k={k}"] == pytest.approx(32e3 / keras[f"step_ms@k={k}"])
  assert out["matmul_peak_gflops"] > 0 and out["machine"]["cores"] >= 1
  traces = glob.glob(str(tmp_path / "trace" / "**" / "*.xplane.pb"), recursive=True)
  assert traces and os.path.getsize(traces[0]) > 0


def test_the_keras_peer_reads_the_questions_s2s_trains_on():
  import keras_addition  # pylint: disable=import-outside-toplevel
  splits = s2s_arithmetic.make_splits(s2s_arithmetic.ArithmeticTask(digits=3, ops="+"),
                                      num_examples=2000, val_fraction=0.1, num_test=200)
  data = keras_addition.data(0, num_examples=2000)
  for name, size in (("train", 1800), ("validation", 200)):
    x, y = data[name]
    assert x.shape == (size, 7, 12) and y.shape == (size, 4, 12)
    chars = np.array(list(keras_addition.CHARS))
    queries = ["".join(chars[row.argmax(-1)])[::-1].rstrip() for row in x]  # Reversed, padded.
    answers = ["".join(chars[row.argmax(-1)]).rstrip() for row in y]
    assert list(zip(queries, answers)) == splits[name]
  short = next(i for i, (query, _) in enumerate(splits["train"]) if len(query) < 7)
  assert chars[data["train"][0][short, 0].argmax()] == " "  # Reversed after padding, as Keras.


def test_a_peer_summary_is_the_steady_epochs_and_the_first_event_at_the_target():
  events = [{"seconds": 9.0, "epoch": 1, "epoch_s": 6.0, "char_accuracy": 0.5},  # Compiles.
            {"seconds": 12.0, "epoch": 2, "epoch_s": 3.0, "char_accuracy": 0.991},
            {"seconds": 16.0, "epoch": 3, "epoch_s": 4.0, "char_accuracy": 0.98},
            {"seconds": 18.5, "epoch": 4, "epoch_s": 2.5, "char_accuracy": 0.995}]
  assert benchmark.summarize_peer(events, 0.99) == {
      "epoch_s": 3.0, "seconds_to_target": 12.0, "epochs_to_target": 2,
      "final_char_accuracy": 0.995}
  assert benchmark.summarize_peer(events[:1], 0.99) == {
      "epoch_s": None, "seconds_to_target": None, "epochs_to_target": None,
      "final_char_accuracy": 0.5}


@pytest.mark.slow
def test_peers_time_s2s_keras_on_jax_and_the_floor_side_by_side_as_ratios():
  """`--peers` with the Keras 3 (JAX backend) peer and the plain-JAX floor: all learn, and the
  ratios are the quotients of the medians, per epoch and per training FLOP."""
  out = benchmark.peers(1, variants=("s2s", "keras_jax", "jax_floor"), max_epochs=3,
                        num_examples=2000)
  for name in ("s2s", "keras_jax", "jax_floor"):
    run, = out["runs"][name]
    assert run["epoch_s"] > 0 and run["epochs_to_target"] is None
    assert run["final_char_accuracy"] > 0.3  # Learning: padding alone is about 0.2.
  assert out["keras_jax.mflop_per_example"] == pytest.approx(6.193152)
  assert out["jax_floor.mflop_per_example"] == pytest.approx(6.193152)
  assert out["s2s.mflop_per_example"] == pytest.approx(7.064832)
  ratio = out["s2s.epoch_s"] / out["keras_jax.epoch_s"]
  assert out["s2s/keras_jax.epoch_s"] == pytest.approx(ratio)
  assert out["s2s/keras_jax.epoch_s_per_flop"] == pytest.approx(ratio * 6.193152 / 7.064832)
  assert out["s2s/keras_jax.seconds_to_target"] is None and out["s2s.reached"] == "0/1"
  assert out["jax_floor/keras_jax.epoch_s"] == pytest.approx(
      out["jax_floor.epoch_s"] / out["keras_jax.epoch_s"])
  assert out["s2s/jax_floor.epoch_s"] == pytest.approx(out["s2s.epoch_s"] / out["jax_floor.epoch_s"])


def test_the_floor_is_keras_s_model_and_loss():
  """scripts/jax_addition.py computes what the Keras tutorial's model computes: given Keras's
  weights, the same probabilities and the same cross-entropy."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax_addition  # pylint: disable=import-outside-toplevel
  import keras_addition  # pylint: disable=import-outside-toplevel
  x, y = keras_addition.data(0, num_examples=2000)["train"]
  x, y = x[:64], y[:64]
  params = jax_addition.init_params(jax.random.PRNGKey(0))
  bias = np.asarray(params["encoder"]["bias"])
  assert bias[128:256].tolist() == [1.0] * 128 and not bias[:128].any()  # Unit forget bias.
  keras_model = keras_addition.model()
  keras_model.set_weights([np.asarray(a) for layer in ("encoder", "decoder", "dense")
                           for a in params[layer].values()])
  logits = jax_addition.logits(params, x, unroll=False)
  np.testing.assert_allclose(jax.nn.softmax(logits), keras_model.predict(x, verbose=0),
                             atol=1e-5)
  keras_loss = keras_model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)["loss"]
  assert float(jax_addition.loss_fn(params, x, y, unroll=False)) == pytest.approx(keras_loss,
                                                                                   rel=1e-5)
  # Unrolled, the same program.
  np.testing.assert_allclose(jax_addition.logits(params, x, unroll=True), logits, atol=1e-5)


def test_the_pytorch_peer_is_keras_s_model_and_loss():
  """scripts/torch_addition.py computes what the Keras tutorial's model computes: given the
  floor's (Keras's) weights, the same probabilities and the same cross-entropy. PyTorch's
  gates are in Keras's order (input, forget, cell, output); it keeps a second bias."""
  torch = pytest.importorskip("torch")  # Not in the test extra (its wheel is gigabytes).
  import jax  # pylint: disable=import-outside-toplevel
  import jax_addition  # pylint: disable=import-outside-toplevel
  import keras_addition  # pylint: disable=import-outside-toplevel
  import torch_addition  # pylint: disable=import-outside-toplevel
  x, y = keras_addition.data(0, num_examples=2000)["train"]
  x, y = x[:64], y[:64]
  params = jax_addition.init_params(jax.random.PRNGKey(0), hidden=48)
  model = torch_addition.Addition(48)
  t = lambda a: torch.from_numpy(np.asarray(a).T.copy())
  with torch.no_grad():
    for lstm, p in ((model.encoder, params["encoder"]), (model.decoder, params["decoder"])):
      lstm.weight_ih_l0.copy_(t(p["kernel"]))
      lstm.weight_hh_l0.copy_(t(p["recurrent"]))
      lstm.bias_ih_l0.copy_(t(p["bias"]))
      lstm.bias_hh_l0.zero_()
    model.dense.weight.copy_(t(params["dense"]["kernel"]))
    model.dense.bias.copy_(t(params["dense"]["bias"]))
    logits = model(torch.from_numpy(np.ascontiguousarray(x)))
  np.testing.assert_allclose(torch.softmax(logits, -1).numpy(),
                             jax.nn.softmax(jax_addition.logits(params, x, unroll=False)),
                             atol=1e-5)
  loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 12),
                                           torch.from_numpy(y.argmax(-1).reshape(-1)))
  assert float(loss) == pytest.approx(float(jax_addition.loss_fn(params, x, y, unroll=False)),
                                      rel=1e-5)


def test_every_peer_gets_the_batch_and_hidden_sizes():
  """`--batch_size 4096 --hidden_size 1024` (the GPU comparison) reach every peer's command
  line, as its own flags or s2s's config overrides; without them, the recipe's own."""
  for name in benchmark.PEERS:
    command, env = benchmark.peer_command(name, "/tmp/run", max_epochs=3, target=0.99,
                                          num_examples=100_000, batch_size=4096,
                                          hidden_size=1024)
    if name in benchmark.SCRIPTED:
      assert {"--batch_size=4096", "--hidden_size=1024", "--num_examples=100000"} <= set(command)
    else:
      assert {"--config.batch_size=4096", "--config.model.hidden_size=1024",
              "--config.task.num_examples=100000"} <= set(command)
    if name.startswith("keras_"):
      assert env["KERAS_BACKEND"] == name.removeprefix("keras_")
    plain, _ = benchmark.peer_command(name, "/tmp/run", max_epochs=3, target=0.99,
                                      num_examples=50_000)
    assert not any("batch_size" in a or "hidden_size" in a for a in plain)
  assert benchmark.keras_flops_per_example(1024) / benchmark.keras_flops_per_example(128) > 50


def test_peers_time_the_pytorch_peer_beside_s2s():
  """The PyTorch peer runs as a peer: it learns, and s2s's ratios against it are computed,
  at the sizes asked for."""
  pytest.importorskip("torch")
  out = benchmark.peers(1, variants=("s2s", "pytorch"), max_epochs=3, num_examples=2000,
                        batch_size=64, hidden_size=64)
  run, = out["runs"]["pytorch"]
  assert run["epoch_s"] > 0 and run["final_char_accuracy"] > 0.3
  assert out["batch_size"] == 64 and out["hidden_size"] == 64
  assert out["pytorch.mflop_per_example"] == pytest.approx(
      benchmark.keras_flops_per_example(64) / 1e6)
  assert out["s2s/pytorch.epoch_s"] == pytest.approx(out["s2s.epoch_s"] / out["pytorch.epoch_s"])


def test_peers_name_an_unknown_peer():
  with pytest.raises(SystemExit, match="unknown peer 'mxnet'"):
    benchmark.peers(1, variants=("s2s", "mxnet"))


def test_bucket_counts_are_a_list_of_whole_numbers():
  assert benchmark.parse_buckets("2,3,4") == (2, 3, 4) and benchmark.parse_buckets("4") == (4,)
  for bad in ("0", "2,x", "", "3,-1"):
    with pytest.raises(SystemExit, match="--buckets must be whole numbers >= 1"):
      benchmark.parse_buckets(bad)


# The jaxpr FLOP counter behind the tasks' GFLOP/s --------------------------------------------

def test_jaxpr_flops_counts_matmuls_convolutions_and_every_scan_step():
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  x, w = jnp.ones((4, 6)), jnp.ones((6, 3))
  assert benchmark.jaxpr_flops(jax.make_jaxpr(lambda x, w: x @ w)(x, w)) == 2 * 4 * 6 * 3

  def recurrence(h, w):  # 5 steps of [4, 3] x [3, 3], and a batched product per step.
    def step(h, _):
      return jnp.tanh(h @ w), jnp.einsum("bi,bj->bij", h, h)
    return jax.lax.scan(step, h, None, length=5)
  h, sq = jnp.ones((4, 3)), jnp.ones((3, 3))
  assert benchmark.jaxpr_flops(jax.make_jaxpr(recurrence)(h, sq)) == 5 * (2 * 4 * 3 * 3
                                                                           + 2 * 4 * 3 * 3)
  # A 3x3 convolution, 2 -> 5 channels, on a batch of 2 images 8x8, padded: 2*9*2 per output.
  image, kernel = jnp.ones((2, 2, 8, 8)), jnp.ones((5, 2, 3, 3))
  conv = lambda a, b: jax.lax.conv(a, b, (1, 1), "SAME")
  assert benchmark.jaxpr_flops(jax.make_jaxpr(conv)(image, kernel)) == 2 * 9 * 2 * (2 * 5 * 8 * 8)
  # Under grad: the backward pass's two products are counted too.
  loss = lambda w: jnp.sum(jnp.tanh(x @ w) @ sq)
  assert benchmark.jaxpr_flops(jax.make_jaxpr(jax.grad(loss))(w)) == (
      2 * 4 * 6 * 3 + 2 * 4 * 3 * 3  # forward
      + 2 * 4 * 3 * 3 + 2 * 4 * 6 * 3)  # backward: through sq, then the weight gradient of w
  # A cond counts its costliest branch; a while loop's matmuls cannot be counted.
  branchy = lambda p, x, w: jax.lax.cond(p, lambda: x @ w, lambda: x[:, :3])
  assert benchmark.jaxpr_flops(jax.make_jaxpr(branchy)(True, x, w)) == 2 * 4 * 6 * 3
  looped = lambda h: jax.lax.while_loop(lambda c: c[1] < 3, lambda c: (c[0] @ sq, c[1] + 1),
                                        (h, 0))
  with pytest.raises(ValueError, match="while loop"):
    benchmark.jaxpr_flops(jax.make_jaxpr(looped)(h))


@pytest.mark.slow
def test_a_task_throughput_counts_its_cnn_and_every_length_bucket(tmp_path):
  # Captioning on a small dataset: what the tasks section reports, and a FLOP count that holds
  # the CNN's convolutions (without them the LSTMs alone would be counted).
  configs = {"captioning": ("configs/captioning.py", "num_examples=640,epochs=1")}
  out = benchmark.task_throughput(str(tmp_path), 1, peak=100.0, configs=configs, steps=4)
  figures = out["captioning"]
  assert figures["examples_per_s"] == pytest.approx(figures["batch_size"] * 1e3
                                                    / figures["step_ms"])
  assert figures["gflops"] == pytest.approx(
      figures["mflop_per_example"] * figures["examples_per_s"] / 1e3)
  assert figures["fraction_of_matmul_peak"] == pytest.approx(figures["gflops"] / 100.0)
  config = benchmark.load_config(*configs["captioning"])
  assert (config.task.cnn_blocks, config.task.cnn_width) == (3, 16)
  # The CNN alone (conv-conv-pool blocks of 3x3 convolutions, 16, 32, 64 channels, on the
  # 12 x 72 image): forward once, backward twice (the first convolution needs no input
  # gradient). The LSTMs and attention come on top.
  height, width, channels, cnn = 12, 72, 1, 0
  for block in range(3):
    for conv in range(2):
      out_channels = 16 * 2**block
      flops = 2 * 9 * channels * out_channels * height * width
      cnn += (2 if block == conv == 0 else 3) * flops
      channels = out_channels
    height, width = height // 2, width // 2
  assert cnn / 1e6 == pytest.approx(48.27, abs=0.01)
  assert cnn < figures["mflop_per_example"] * 1e6 < 2 * cnn


def test_timed_steps_never_compile_a_length_bucket(tmp_path):
  """Every bucket's step is compiled before the clock starts, the rare long-tail bucket too
  (translation's holds a batch or two per epoch): else its compilation would count in some
  measurements and not in others. Here the rarest bucket's batches come last in each epoch."""
  config = benchmark.load_config("configs/addition.py")
  config.task.num_examples, config.task.num_test = 3000, 100
  config.length_buckets, config.steps_per_dispatch = 4, 1
  setup = benchmark.Setup(config, str(tmp_path))
  batches = setup.batches()
  plan = batches._batches  # pylint: disable=protected-access

  def rarest_last(epoch):
    order = plan(epoch)
    counts = collections.Counter(bucket for bucket, _ in order)
    rare = min(counts, key=counts.get)
    return [b for b in order if b[0] != rare] + [b for b in order if b[0] == rare]

  batches._batches = rarest_last  # pylint: disable=protected-access
  setup.batches = lambda seed=0: batches
  assert len({tuple(sorted(s.items())) for s in batches.shapes}) > 1
  epoch = len(plan(0))  # Timed: an epoch's steps, which reach the rarest bucket.
  out = benchmark.time_train_loop(setup, epoch)
  assert out["shapes_compiled_while_timed"] == 0 and out["steps_timed"] >= epoch
