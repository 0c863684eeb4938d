"""The benchmark: its FLOP count (which GFLOP/s and peak fractions rest on) and its output."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from s2s import arithmetic as s2s_arithmetic
from s2s import config as config_lib
from s2s import vocab as vocab_lib
from s2s.tasks import arithmetic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
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


def test_keras_section_reports_its_figures_and_writes_a_profile(tmp_path):
  """`benchmark.py --only keras --profile DIR`: the table's figures and a trace to open."""
  result = subprocess.run(
      [sys.executable, "scripts/benchmark.py", "--only", "keras", "--repeats", "1", "--json",
       "--keras_steps", "200", "--profile", str(tmp_path / "trace")],
      cwd=ROOT, capture_output=True, text=True, timeout=600,
      env={k: v for k, v in os.environ.items() if k != "XLA_FLAGS"})
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


def test_peers_time_s2s_and_keras_on_jax_side_by_side_as_ratios():
  """`--peers` with the Keras 3 (JAX backend) peer: both learn, and the ratios are the
  quotients of the medians, per epoch and per training FLOP."""
  out = benchmark.peers(1, variants=("s2s", "keras_jax"), max_epochs=3, num_examples=2000)
  for name in ("s2s", "keras_jax"):
    run, = out["runs"][name]
    assert run["epoch_s"] > 0 and run["epochs_to_target"] is None
    assert run["final_char_accuracy"] > 0.3  # Learning: padding alone is about 0.2.
  assert out["keras_jax.mflop_per_example"] == pytest.approx(6.193152)
  assert out["s2s.mflop_per_example"] == pytest.approx(7.064832)
  ratio = out["s2s.epoch_s"] / out["keras_jax.epoch_s"]
  assert out["s2s/keras_jax.epoch_s"] == pytest.approx(ratio)
  assert out["s2s/keras_jax.epoch_s_per_flop"] == pytest.approx(ratio * 6.193152 / 7.064832)
  assert out["s2s/keras_jax.seconds_to_target"] is None and out["s2s.reached"] == "0/1"


def test_peers_name_an_unknown_peer():
  with pytest.raises(SystemExit, match="unknown peer 'pytorch'"):
    benchmark.peers(1, variants=("s2s", "pytorch"))
