"""Two processes (jax.distributed on localhost, gloo collectives) == one process with two devices."""

import socket
import subprocess
import sys

import pytest

from conftest import ROOT, TINY, command_env, popen, read_metrics, run_cli


def free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def translation_corpus(path):
  """Two-word phrases; 301 pairs, so the splits do not divide evenly between 2 processes."""
  words = ["red", "big", "old", "new", "cat", "dog", "car", "sun", "sea", "sky", "tree", "box",
           "cup", "hat", "pen", "map", "key", "bed"]
  french = ["rouge", "grand", "vieux", "neuf", "chat", "chien", "auto", "soleil", "mer", "ciel",
            "arbre", "boite", "tasse", "chapeau", "stylo", "carte", "cle", "lit"]
  pairs = [(f"{a} {b}", f"{french[j]} {french[i]}")
           for i, a in enumerate(words) for j, b in enumerate(words)][:301]
  path.write_text("".join(f"{en}\t{fr}\n" for en, fr in pairs))
  return [f"--config=configs/translation.py:corpus=tsv,path={path},tokenizer=char,max_chars=0,"
          f"hidden_size=16,attention=luong", "--config.model.embed_dim=8",
          "--config.eval_batch_size=20", "--config.beam_size=2", "--config.num_attention_plots=0"]


@pytest.mark.slow
@pytest.mark.parametrize("task", ["arithmetic", "translation"])
def test_two_processes_match_one_process_with_two_devices(tmp_path, data_dir, task):
  args = ["--config.num_steps=40", "--config.log_every_steps=5", "--config.batch_size=32",
          f"--config.data_dir={data_dir}"]
  metrics = ["loss", "token_accuracy", "sequence_accuracy"]
  base = TINY
  if task == "translation":  # Text metrics and beam search over splits shared unevenly.
    base = translation_corpus(tmp_path / "pairs.txt") + ["--config.model.dropout=0"]
    metrics += ["bleu", "chrf", "exact_match", "sequence_accuracy_beam2", "bleu_beam2"]
  single = tmp_path / "single"
  result = run_cli("s2s.train", [*base, *args, f"--workdir={single}"],
                   env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
  assert result.returncode == 0, result.stderr

  multi = tmp_path / "multi"
  env = command_env({"XLA_FLAGS": "--xla_force_host_platform_device_count=1"})
  address = f"localhost:{free_port()}"
  processes = [popen(
      [sys.executable, "-m", "s2s.train", *base, *args, f"--workdir={multi}",
       f"--coordinator_address={address}", "--num_processes=2", f"--process_id={i}"],
      cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for i in range(2)]
  outputs = [p.communicate(timeout=600) for p in processes]
  for p, (out, err) in zip(processes, outputs):
    assert p.returncode == 0, err
  assert "on 2 cpu device(s)" in outputs[0][0]  # Global devices, seen by process 0...
  assert "validation:" not in outputs[1][0]  # ...which alone reports.

  one, two = read_metrics(single), read_metrics(multi)
  assert [(e["step"], e["split"]) for e in one] == [(e["step"], e["split"]) for e in two]
  assert {e["split"] for e in two} == {"train", "validation", "test"}
  for a, b in zip(one, two):
    for name in metrics:
      if name in a or a["split"] == "test":
        assert b[name] == pytest.approx(a[name], rel=1e-5, abs=1e-7), (name, a, b)
