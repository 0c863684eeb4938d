"""What the tests share: the XLA settings of the suite, a TFDS data dir, a compilation cache and
the finished runs of a session (shared by the pytest-xdist workers), and the runners of the
command-line programs (forked from tests/zygote.py)."""

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import pathlib
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A small, fast run: 2-digit addition, a small LSTM, few steps.
TINY = ["--config=configs/addition.py:digits=2,num_examples=1000,epochs=1",
        "--config.model.hidden_size=16", "--config.batch_size=16",
        "--config.eval_batch_size=100", "--config.log_every_steps=10",
        "--config.task.check_small_operands=False"]


def pytest_configure(config):
  """Tests run with XLA's optimizations off (compiling is most of a tiny run's time, and two
  runs compared with each other compile alike) unless marked `optimized`: those pin numbers
  of optimized programs or run long enough for their speed to matter. Set for the commands
  tests run too."""
  config.addinivalue_line("markers", "optimized: run with XLA's optimizations on")
  config.addinivalue_line("markers", "slow: one of the few long tests (CI runs them all)")
  os.environ.setdefault(OPTIMIZATIONS_ENV, "1")
  os.environ.pop("XLA_FLAGS", None)  # One device unless a test asks for more.
  if os.environ[OPTIMIZATIONS_ENV] == "1":
    os.environ["XLA_FLAGS"] = UNOPTIMIZED_XLA_FLAGS
  if "jax" in sys.modules:
    sys.modules["jax"].config.update("jax_disable_most_optimizations",
                                     os.environ[OPTIMIZATIONS_ENV] == "1")


OPTIMIZATIONS_ENV = "JAX_DISABLE_MOST_OPTIMIZATIONS"
# XLA:CPU's older emitters compile tiny programs in 60% of the time (measured on the matrix's
# runs); set with the optimizations off. In-process, for the whole session (read at start-up).
UNOPTIMIZED_XLA_FLAGS = "--xla_cpu_use_fusion_emitters=false"


def command_env(env=None) -> dict:
  """The environment of a command a test runs: this one without the user's XLA_FLAGS (one
  device unless `env` asks for more), the optimizations of the test (see `optimized`), and
  `env`, whose XLA_FLAGS are added to the suite's."""
  full = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  full.update(env or {})
  flags = (env or {}).get("XLA_FLAGS", "")
  if full.get(OPTIMIZATIONS_ENV) == "1":
    flags = f"{UNOPTIMIZED_XLA_FLAGS} {flags}"
  full["XLA_FLAGS"] = flags.strip()
  return full


@pytest.fixture(autouse=True, scope="module")
def _optimized_module(request):
  with optimized(request.node.get_closest_marker("optimized") is not None):
    yield


@pytest.fixture(autouse=True)
def _optimized_test(request):
  with optimized(request.node.get_closest_marker("optimized") is not None):
    yield


@contextlib.contextmanager
def optimized(on: bool = True):
  """XLA's optimizations on for what runs inside (in-process and the commands it starts): for
  a module-scoped fixture that learns, which a test's marker does not reach."""
  if not on or os.environ.get(OPTIMIZATIONS_ENV) == "0":
    yield
    return
  import jax  # pylint: disable=import-outside-toplevel
  before = os.environ[OPTIMIZATIONS_ENV], jax.config.read("jax_disable_most_optimizations")
  os.environ[OPTIMIZATIONS_ENV] = "0"
  jax.config.update("jax_disable_most_optimizations", False)
  try:
    yield
  finally:
    os.environ[OPTIMIZATIONS_ENV] = before[0]
    jax.config.update("jax_disable_most_optimizations", before[1])


# The finished run most tests read or copy: TINY for 60 steps, checkpoints at 20, 40 and 60.
REFERENCE = ["--config.num_steps=60", "--config.checkpoint_every_steps=20",
             "--config.num_samples=0"]


def session_folder(tmp_path_factory) -> pathlib.Path:
  """A folder of this test session that every pytest-xdist worker shares."""
  base = tmp_path_factory.getbasetemp()
  return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def locked(path):
  """Holds an exclusive lock on `path`.lock (between workers and processes)."""
  with open(f"{path}.lock", "w") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    yield


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory):
  """One JAX compilation cache per test session, shared by the workers, the commands they run
  and in-process runs: a program compiled once (a run, then its resume) is loaded after that,
  and every session starts from none, as CI does, whatever ~/.cache holds."""
  from s2s import cli  # pylint: disable=import-outside-toplevel
  path = session_folder(tmp_path_factory) / "jax_cache"
  os.environ[cli.CACHE_ENV] = str(path)
  cli.use_compilation_cache(str(path))
  return path


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
  """One TFDS data dir for the session, shared by the workers (s2s.dataset prepares a dataset
  once, whichever processes ask for it at the same time)."""
  path = session_folder(tmp_path_factory) / "tfds"
  path.mkdir(exist_ok=True)
  return str(path)


def shared_run(tmp_path_factory, data_dir, *args) -> pathlib.Path:
  """The workdir of `s2s.train` TINY + args, trained once per test session whichever tests and
  workers ask for it. Read it; a test that trains in it or alters it works on a copy
  (shutil.copytree), so every test sees the run as training left it."""
  key = hashlib.sha1(json.dumps(args).encode()).hexdigest()[:12]
  workdir = session_folder(tmp_path_factory) / "shared_runs" / key
  workdir.parent.mkdir(exist_ok=True)
  with locked(workdir):
    if not workdir.exists():
      partial = workdir.with_name(f"{key}.partial")
      shutil.rmtree(partial, ignore_errors=True)
      # Unoptimized whichever test asks first, as the tests that resume copies of it train.
      result = train_cli(partial, data_dir, *args, env={OPTIMIZATIONS_ENV: "1"})
      assert result.returncode == 0, result.stderr
      os.rename(partial, workdir)
  return workdir


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, data_dir):
  """TINY + REFERENCE, finished and never interrupted (read-only: copy it to change it)."""
  return shared_run(tmp_path_factory, data_dir, *REFERENCE)


@pytest.fixture(scope="session")
def run_20_steps(tmp_path_factory, data_dir):
  """TINY for 20 steps, one checkpoint (read-only: copy it to change it)."""
  return shared_run(tmp_path_factory, data_dir, "--config.num_steps=20")


# Python commands ---------------------------------------------------------------------------
# `python -m s2s.train ...`, `python scripts/x.py ...` and `python -c ...` run as children of
# tests/zygote.py, which has imported s2s once: the same process boundary (pid, exit code,
# signals, stdout and stderr) without 2 s of imports per command. `popen` and `run` take
# subprocess's arguments; what a fork cannot reproduce runs in a fresh interpreter.

_IMPORT_TIME_ENV = ("JAX_", "PYTHON", "TF_", "XLA_PYTHON_")  # Read once, at import.
_ZYGOTE = {}


def _zygote_socket():
  """The socket of this pytest process's zygote, started on first use."""
  server = _ZYGOTE.get("process")
  if server is None or server.poll() is not None:
    folder = tempfile.mkdtemp(prefix="s2s-zygote-")
    path = os.path.join(folder, "socket")
    env = command_env()
    server = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "zygote.py"), path],
                              cwd=ROOT, env=env, stdin=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not os.path.exists(path):
      if server.poll() is not None or time.time() > deadline:
        raise RuntimeError(f"tests/zygote.py did not start (exit {server.poll()})")
      time.sleep(0.02)
    _ZYGOTE.update(process=server, socket=path, env=env)
  return _ZYGOTE["socket"]


def _forkable(command, env) -> bool:
  """A python command whose environment reads at import as the zygote's did."""
  if len(command) < 2 or command[0] != sys.executable:
    return False
  if command[1] not in ("-m", "-c") and not command[1].endswith(".py"):
    return False
  _zygote_socket()
  base = _ZYGOTE["env"]
  keys = {k for k in set(env) | set(base) if k.startswith(_IMPORT_TIME_ENV)
          and k not in ("PYTHONPATH", "JAX_DISABLE_MOST_OPTIMIZATIONS")}  # The zygote sets these.
  return all(env.get(k) == base.get(k) for k in keys)


class Forked:
  """A command run by the zygote, with the part of subprocess.Popen's interface tests use.
  Output sent to PIPE goes to temporary files, read back by `communicate`."""

  def __init__(self, command, cwd, env, stdin, stdout, stderr, text):
    if command[1] == "-m":
      kind, target, args = "module", command[2], command[3:]
    elif command[1] == "-c":
      kind, target, args = "code", command[2], command[3:]
    else:
      kind, target, args = "path", command[1], command[2:]
    self.args, self.returncode, self._text = command, None, text
    self._captured = {}
    opened = []

    def fd_for(stream, name, mode):
      if stream is None:
        return {"stdin": 0, "stdout": 1, "stderr": 2}[name]
      if stream in (subprocess.DEVNULL, subprocess.PIPE):
        f = (open(os.devnull, mode) if stream == subprocess.DEVNULL
             else tempfile.TemporaryFile(mode="w+b"))
        opened.append(f)
        if stream == subprocess.PIPE:
          self._captured[name] = f
        return f.fileno()
      if stream == subprocess.STDOUT:
        return fds[1]
      return stream if isinstance(stream, int) else stream.fileno()

    fds = [fd_for(stdin, "stdin", "rb")]
    fds.append(fd_for(stdout, "stdout", "wb"))
    fds.append(fd_for(stderr, "stderr", "wb"))
    request = json.dumps({"kind": kind, "target": target, "args": list(map(str, args)),
                          "cwd": os.fspath(cwd or os.getcwd()), "env": env}).encode()
    self._conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    self._conn.connect(_zygote_socket())
    socket.send_fds(self._conn, [struct.pack("!I", len(request)) + request], fds)
    for f in opened:
      if f not in self._captured.values():
        f.close()
    self._buffer = b""
    self.pid = self._message(None)["pid"]
    self.stdout = self.stderr = None

  def _message(self, timeout):
    while b"\n" not in self._buffer:
      if timeout is not None and not select.select([self._conn], [], [], timeout)[0]:
        return None
      chunk = self._conn.recv(4096)
      if not chunk:
        raise RuntimeError(f"the zygote stopped while running {self.args[:3]}")
      self._buffer += chunk
    line, self._buffer = self._buffer.split(b"\n", 1)
    return json.loads(line)

  def poll(self):
    if self.returncode is None:
      message = self._message(0)
      if message is not None:
        self.returncode = message["returncode"]
        self._conn.close()
    return self.returncode

  def wait(self, timeout=None):
    if self.returncode is None:
      message = self._message(timeout)
      if message is None:
        raise subprocess.TimeoutExpired(self.args, timeout)
      self.returncode = message["returncode"]
      self._conn.close()
    return self.returncode

  def send_signal(self, sig):
    if self.returncode is None:
      os.kill(self.pid, sig)

  def kill(self):
    self.send_signal(9)

  def communicate(self, input=None, timeout=None):  # pylint: disable=redefined-builtin
    assert input is None, "pass stdin to `run` instead"
    self.wait(timeout)
    out = []
    for name in ("stdout", "stderr"):
      f = self._captured.pop(name, None)
      if f is None:
        out.append(None)
        continue
      f.seek(0)
      data = f.read()
      f.close()
      out.append(data.decode(errors="replace") if self._text else data)
    return tuple(out)


def popen(command, *, cwd=None, env=None, stdin=None, stdout=None, stderr=None, text=False):
  """subprocess.Popen(command, ...), forked from the zygote where it can be."""
  env = dict(os.environ if env is None else env)
  if _forkable(command, env):
    return Forked(command, cwd, env, stdin, stdout, stderr, text)
  return subprocess.Popen(command, cwd=cwd, env=env, stdin=stdin, stdout=stdout, stderr=stderr,
                          text=text)


def run(command, *, cwd=None, env=None, input=None, capture_output=False, text=False,
        timeout=None, check=False):  # pylint: disable=redefined-builtin
  """subprocess.run(command, ...), forked from the zygote where it can be."""
  pipe = subprocess.PIPE if capture_output else None
  with tempfile.TemporaryFile() as stdin:
    if input is not None:
      stdin.write(input.encode() if isinstance(input, str) else input)
      stdin.seek(0)
    process = popen(command, cwd=cwd, env=env, stdin=stdin if input is not None else None,
                    stdout=pipe, stderr=pipe, text=text)
    try:
      stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
      process.kill()
      process.wait()
      raise
  if check and process.returncode:
    raise subprocess.CalledProcessError(process.returncode, command, stdout, stderr)
  return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def run_cli(module, args, env=None, stdin=None, timeout=600):
  """Runs `python -m module args` from the repository root; returns the CompletedProcess."""
  return run([sys.executable, "-m", module, *args], cwd=ROOT, env=command_env(env), input=stdin,
             capture_output=True, text=True, timeout=timeout)


def train_cli(workdir, data_dir, *extra, env=None):
  return run_cli("s2s.train", [*TINY, f"--workdir={workdir}", f"--config.data_dir={data_dir}",
                               *extra], env=env)


def read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def assert_user_error(result, *words):
  """A failed CLI call that printed one clear `error:` line naming `words`, no traceback."""
  assert result.returncode != 0, result.stdout
  assert "Traceback" not in result.stderr, result.stderr
  lines = [l for l in result.stderr.splitlines() if l.strip()]
  assert lines and lines[-1].startswith("error: "), result.stderr
  for word in words:
    assert word in lines[-1], lines[-1]


# Speech synthesis (scripts/install_system_data.sh installs both); tests that speak skip without.
needs_voices = pytest.mark.skipif(
    not (shutil.which("flite") and shutil.which("espeak-ng")),
    reason="flite and espeak-ng are not installed (sudo scripts/install_system_data.sh)")


def check_predict_files(workdir, files, plots, alphabet):
  """s2s.predict on `files`, greedy and with a beam of 2, plotting attention into `plots`: a
  line per file, in order, each prediction written in `alphabet`, and a plot per file."""
  for beam in ("1", "2"):
    result = run_cli("s2s.predict", [f"--workdir={workdir}", f"--beam={beam}",
                                     f"--plot_attention={plots}", *files])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [l.split("\t")[0] for l in lines] == files
    assert all(set(l.split("\t")[1]) <= set(alphabet) for l in lines), lines
  assert sorted(os.listdir(plots)) == [f"query_{i + 1}.png" for i in range(len(files))]


def check_predict_refuses_bad_files(workdir, directory, suffix):
  """s2s.predict on a text file named *`suffix` and on a missing file: one-line errors."""
  bad = directory / f"notes{suffix}"
  bad.write_text("not what the name says")
  assert_user_error(run_cli("s2s.predict", [f"--workdir={workdir}", str(bad)]), bad.name)
  missing = directory / f"no{suffix}"
  assert_user_error(run_cli("s2s.predict", [f"--workdir={workdir}", str(missing)]),
                    missing.name)


def load_config(name, arg=""):
  """configs/<name>.py's get_config(arg)."""
  spec = importlib.util.spec_from_file_location(f"s2s_config_{name}",
                                                os.path.join(ROOT, "configs", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


def load_script(name):
  """scripts/<name>.py as a module, to call its main() in-process."""
  spec = importlib.util.spec_from_file_location(f"s2s_script_{name}",
                                                os.path.join(ROOT, "scripts", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def train_on_devices(tmp_path, data_dir, args, counts=(1, 2)):
  """metrics.jsonl events of the same run on each number of (emulated CPU) devices."""
  runs = {}
  for devices in counts:
    workdir = tmp_path / f"devices{devices}"
    result = train_cli(workdir, data_dir, *args, env={
        "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"})
    assert result.returncode == 0, result.stderr
    assert f"on {devices} cpu device(s)" in result.stdout
    runs[devices] = read_metrics(workdir)
  return runs


def resume_after(reference, copy, step: int, data_dir, *args):
  """Reruns a finished run as if killed just after checkpoint `step`: a copy of `reference`
  without its later checkpoints and done mark, trained again with `args`. Returns the
  CompletedProcess; the caller compares the copy with the reference."""
  shutil.copytree(reference, copy)
  for name in os.listdir(os.path.join(copy, "checkpoints")):
    if name.isdigit() and int(name) > step:
      shutil.rmtree(os.path.join(copy, "checkpoints", name))
  os.remove(os.path.join(copy, "done.json"))
  result = train_cli(copy, data_dir, *args)
  assert result.returncode == 0, result.stderr
  assert f"resuming at step {step}" in result.stdout
  return result


def final_params(workdir):
  """The leaves of a workdir's newest checkpoint's parameters, as numpy arrays."""
  from s2s import checkpoints  # pylint: disable=import-outside-toplevel
  import jax  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  params, _ = checkpoints.restore_params(workdir)
  return jax.tree.leaves(jax.tree.map(np.asarray, params))

