"""A Python process that has imported s2s once and forks a child for each command the tests run.

`python -m s2s.train ...` spends about 2 s importing JAX, TFDS and orbax before it reads its
flags; the suite runs such commands a few hundred times. This server imports them once, then,
for each request, forks a child that runs the command as `python` would (`-m module`, a script
path, or `-c code`) with the request's argv, working directory, environment and standard
streams, and reports its exit status. The child is a real process: it has its own pid, exit
code and signal handling, so tests of exit codes, stderr lines, SIGINT, SIGTERM and SIGKILL
mean what they mean for `python -m`. No JAX backend exists in the server (importing JAX does
not start one), so the fork is safe: each child starts its own, reading XLA_FLAGS then.

What a fork cannot give, tests/conftest.py's `popen` runs as a fresh interpreter instead: an
environment that changes what is read at import (JAX_* but JAX_DISABLE_MOST_OPTIMIZATIONS,
which the child applies, and PYTHON* but PYTHONPATH, which it adds to sys.path).
Every child shares the server's string-hash seed; the tests of determinism across processes
(test_corpora's PYTHONHASHSEED test, the SIGKILL resume) use fresh interpreters.

  python tests/zygote.py SOCKET    (started by tests/conftest.py, one per pytest worker)

Protocol, one Unix-socket connection per command: the client sends a 4-byte length and a JSON
request {"kind": "module"|"path"|"code", "target", "args", "cwd", "env"} with the three file
descriptors for stdin, stdout and stderr attached; the server answers {"pid": N}, then, when
the child ends, {"returncode": N} (negative: killed by that signal, as subprocess says).
"""

import importlib
import io
import json
import os
import runpy
import select
import signal
import socket
import struct
import sys

# JAX reads its options from the environment at import; the one tests change per command is
# applied in the child as JAX would have read it (tests/conftest.py forks no other change).
OPTIMIZATIONS_ENV = "JAX_DISABLE_MOST_OPTIMIZATIONS"
_TRUE = ("y", "yes", "t", "true", "on", "1")
_START_ENV = dict(os.environ)

PRELOAD = ("s2s.train", "s2s.predict", "s2s.sweeps", "s2s.results", "s2s.evaluation",
           "s2s.tasks.arithmetic", "s2s.tasks.translation", "orbax.checkpoint",
           "tensorflow_datasets", "grain")


def _read_request(conn):
  data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
  while len(data) < 4 or len(data) < 4 + struct.unpack("!I", data[:4])[0]:
    more = conn.recv(1 << 16)
    if not more:
      raise EOFError("the client closed the connection mid-request")
    data += more
  return json.loads(data[4:4 + struct.unpack("!I", data[:4])[0]]), fds


def _standard_streams():
  """sys.stdin/stdout/stderr over fds 0-2, buffered as a fresh interpreter would buffer them."""
  def stream(fd, mode):
    tty = os.isatty(fd)
    raw = io.open(fd, mode + "b", closefd=False)
    return io.TextIOWrapper(raw, encoding="utf-8",
                            errors="backslashreplace" if fd == 2 else "strict",
                            line_buffering=tty or fd == 2)
  sys.stdin, sys.stdout, sys.stderr = stream(0, "r"), stream(1, "w"), stream(2, "w")
  sys.__stdin__, sys.__stdout__, sys.__stderr__ = sys.stdin, sys.stdout, sys.stderr


def _run_child(request, fds):
  """In the forked child: becomes the requested command. Returns or raises as its code does;
  the interpreter then exits as `python` would (SystemExit code, traceback and 1, atexit)."""
  for target, fd in zip((0, 1, 2), fds):
    os.dup2(fd, target)
    os.close(fd)
  signal.signal(signal.SIGINT, signal.default_int_handler)
  for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
    signal.signal(sig, signal.SIG_DFL)
  _standard_streams()
  os.chdir(request["cwd"])
  os.environ.clear()
  os.environ.update(request["env"])
  if OPTIMIZATIONS_ENV in request["env"] or OPTIMIZATIONS_ENV in _START_ENV:
    import jax  # pylint: disable=import-outside-toplevel
    jax.config.update("jax_disable_most_optimizations",
                      request["env"].get(OPTIMIZATIONS_ENV, "0").lower() in _TRUE)
  extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
  kind, target, args = request["kind"], request["target"], request["args"]
  # sys.path[0] as python sets it: the working directory for -m and -c, the script's folder.
  first = os.path.dirname(os.path.abspath(target)) if kind == "path" else (
      os.getcwd() if kind == "module" else "")
  sys.path[:] = [first, *extra, *[p for p in sys.path[1:] if p not in extra]]
  if kind == "module":
    sys.argv = [target, *args]
    sys.modules.pop(target, None)  # Run afresh as __main__, as `python -m` runs it.
    runpy.run_module(target, run_name="__main__", alter_sys=True)
  elif kind == "path":
    sys.argv = [target, *args]
    runpy.run_path(target, run_name="__main__")
  else:
    sys.argv = ["-c", *args]
    main = type(sys)("__main__")
    sys.modules["__main__"] = main
    exec(compile(target, "<string>", "exec"), main.__dict__)  # pylint: disable=exec-used


def serve(path):
  for name in PRELOAD:
    importlib.import_module(name)
  server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
  server.bind(path)
  server.listen(64)
  parent = os.getppid()
  children = {}  # pid -> the connection that waits for its exit status
  while True:
    if os.getppid() != parent:  # The pytest worker is gone.
      os._exit(0)  # pylint: disable=protected-access
    if select.select([server], [], [], 0.02)[0]:
      conn, _ = server.accept()
      try:
        request, fds = _read_request(conn)
      except (OSError, EOFError, ValueError):
        conn.close()
        continue
      pid = os.fork()
      if pid == 0:
        server.close()
        conn.close()
        for other in children.values():
          other.close()
        _run_child(request, fds)
        return  # The interpreter exits 0, as after the last line of a script.
      for fd in fds:
        os.close(fd)
      try:
        conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
      except OSError:
        pass
      children[pid] = conn
    while children:
      pid, status = os.waitpid(-1, os.WNOHANG)
      if pid == 0:
        break
      conn = children.pop(pid, None)
      if conn is not None:
        try:
          conn.sendall(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}).encode()
                       + b"\n")
        except OSError:
          pass
        conn.close()


if __name__ == "__main__":
  serve(sys.argv[1])
