"""The benchmark: its FLOP count (which GFLOP/s and peak fractions rest on) and its output."""

import glob
import json
import os
import subprocess
import sys

import pytest

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
       "--profile", str(tmp_path / "trace")],
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
