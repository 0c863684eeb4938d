"""Two processes (jax.distributed on localhost, gloo collectives) == one process with two devices."""

import os
import socket
import subprocess
import sys

import pytest

from conftest import ROOT, TINY, read_metrics, train_cli


def free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_processes_match_one_process_with_two_devices(tmp_path, data_dir):
  args = ["--config.num_steps=40", "--config.log_every_steps=5", "--config.batch_size=32",
          f"--config.data_dir={data_dir}"]
  single = tmp_path / "single"
  result = train_cli(single, data_dir, *args,
                     env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
  assert result.returncode == 0, result.stderr

  multi = tmp_path / "multi"
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=1")
  address = f"localhost:{free_port()}"
  processes = [subprocess.Popen(
      [sys.executable, "-m", "s2s.train", *TINY, *args, f"--workdir={multi}",
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
    for name in ("loss", "token_accuracy", "sequence_accuracy"):
      assert b[name] == pytest.approx(a[name], rel=1e-5, abs=1e-7), (a, b)
