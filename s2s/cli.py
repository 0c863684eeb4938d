"""What the command-line programs (s2s.train, s2s.predict) share: absl flag parsing whose
errors are one line, loading the config file, joining a multi-process run, JAX's persistent
compilation cache, and SIGTERM handled as Ctrl-C."""

import os
import re
import signal
import sys

from absl import flags
import jax

from s2s import config as config_lib
from s2s.errors import exit_on_user_error

FLAGS = flags.FLAGS
CACHE_ENV = "S2S_COMPILATION_CACHE"  # The default of --compilation_cache, if set.


def define_jax_flags():
  """Flags of how a program runs JAX: processes training together, the compilation cache."""
  flags.DEFINE_string("coordinator_address", None,
                      "host:port of process 0, to train with several processes outside SLURM "
                      "(with --num_processes and --process_id).")
  flags.DEFINE_integer("num_processes", None, "Processes training together.")
  flags.DEFINE_integer("process_id", None, "This process's index, 0..num_processes-1.")
  flags.DEFINE_string("compilation_cache",
                      os.environ.get(CACHE_ENV, os.path.join("~", ".cache", "s2s", "jax")),
                      "Directory of JAX's persistent compilation cache, shared by all runs: a "
                      "rerun or a sweep's next run loads its programs instead of compiling "
                      f"them (about 2 s of configs/addition_fast.py's 22 s). Empty: no cache. "
                      f"Default: ${CACHE_ENV}, else ~/.cache/s2s/jax.")


def use_compilation_cache(path: str):
  """Caches every program that takes over 0.2 s to compile. A cached program is the same
  executable, so results do not change; a directory that cannot be made only costs speed."""
  if not path:
    return
  path = os.path.expanduser(path)
  try:
    os.makedirs(path, exist_ok=True)
  except OSError as e:
    print(f"warning: no compilation cache ({e})", file=sys.stderr)
    return
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def init_distributed():
  """Joins a multi-process run: from the flags, or detected in a SLURM job of several tasks.

  Every process then feeds its local devices its part of each global batch, and
  the pmap'd step's collectives span all processes' devices.
  """
  if FLAGS.coordinator_address is None and int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
    return
  jax.config.update("jax_cpu_collectives_implementation", "gloo")  # Used only on CPU.
  jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)


def parse_flags(argv):
  """absl flag parsing whose errors (unknown config fields, bad values) are one line.

  Parsing only reads the command line and the config file, so every error here
  is the user's to fix and is reported without a traceback.
  """
  try:
    return FLAGS(argv)
  except Exception as e:  # pylint: disable=broad-except
    print(f"error: {flag_error(e, argv)}", file=sys.stderr)
    sys.exit(2)


def config_path(argv) -> str | None:
  """The config file named by `--config=FILE[:arg]` or `--config FILE[:arg]` (the last one)."""
  path = None
  for i, arg in enumerate(argv):
    if arg.startswith("--config="):
      path = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(argv):
      path = argv[i + 1]
  return path.split(":", 1)[0] if path is not None else None


def flag_error(e, argv) -> str:
  path = config_path(argv)
  # A syntax error or an exception in the config file (or its get_config): its line.
  message = path and config_lib.describe_load_error(path, e)
  if message:
    return message
  field = re.match(r"flag --config\.([\w.]+)=", str(e))
  if isinstance(e, flags.IllegalFlagValueError) and field:  # A value of the wrong type.
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"--config.{field.group(1)}=")]
    if values:
      return config_lib.type_error(field.group(1), values[-1])
  while e.args and isinstance(e.args[0], BaseException):
    e = e.args[0]  # ml_collections wraps the KeyError that carries the message.
  text = str(e.args[0]) if e.args else str(e)
  if isinstance(e, (AttributeError, KeyError)):
    # ml_collections: "'hiden_size'\nDid you mean "hidden_size" instead of "hiden_size"?"
    key = re.match(r"\W*(\w+)", text)
    if key:
      paths = [a[2:].split("=")[0] for a in argv
               if a.startswith("--config.") and key.group(1) in a.split("=")[0].split(".")]
      suggestion = re.search(r'Did you mean "(\w+)"', text)
      hint = f" (did you mean {suggestion.group(1)!r}?)" if suggestion else ""
      return f"unknown config field {paths[0] if paths else key.group(1)!r}{hint}"
  if isinstance(e, flags.UnrecognizedFlagError) and "'config." in text:
    return text.replace("Unknown command line flag", "unknown config field")
  if isinstance(e, OSError) and "config file" in text:
    return f"cannot load the config file {path or ''!r}: {text.splitlines()[-1].strip()}"
  return " ".join(line.strip() for line in text.splitlines() if line.strip())


def load_config(config, argv):
  """The config of `--config` (absl's config_flags defers a config file's load errors until
  its first use: they are reported here, as one line); exits 2 if there is none."""
  try:
    if config is not None:
      config.get("task")
  except OSError as e:
    print(f"error: {flag_error(e, argv)}", file=sys.stderr)
    sys.exit(2)
  path = config_path(argv)
  if path is None or config is None:
    print("error: --config and --workdir are required", file=sys.stderr)
    sys.exit(2)
  exit_on_user_error(config_lib.returned_config, path, config)  # get_config returned a dict?
  return config


_STOP = {}  # The signal that asked the program to stop, once one has.


def stop_on_sigterm():
  """SIGTERM (kill, SLURM preemption) stops a program as Ctrl-C does: as a KeyboardInterrupt
  naming the signal, which the program reports in one line. The signal is also recorded for
  `check_stop`, in case library code caught the KeyboardInterrupt where it landed. Where
  Python cannot raise it (a signal landing in a garbage-collector callback), it is not printed
  as a traceback: `check_stop` raises it at the next step."""
  signal.signal(signal.SIGTERM, _raise_interrupt)
  signal.signal(signal.SIGINT, _raise_interrupt)
  if not getattr(sys.unraisablehook, "quiet_stop", False):
    sys.unraisablehook = _quiet_stop_hook(sys.unraisablehook)


def check_stop():
  """Raises the KeyboardInterrupt of a stop signal received earlier (called between steps)."""
  if _STOP:
    raise KeyboardInterrupt(_STOP["signal"])


def _quiet_stop_hook(hook):
  def quiet(unraisable):
    if not (_STOP and isinstance(unraisable.exc_value, KeyboardInterrupt)):
      hook(unraisable)
  quiet.quiet_stop = True
  return quiet


def _raise_interrupt(signum, frame):
  del frame
  _STOP["signal"] = signal.Signals(signum).name
  raise KeyboardInterrupt(_STOP["signal"])
