"""Errors a user can cause or a run can meet, and the CLI wrapper that reports them as one line."""

import sys


class UserError(Exception):
  """A mistake in a config value, a query, a path or a workdir.

  Raised with one sentence that names what is wrong; command-line entry points
  print it without a traceback and exit with status 2.
  """


class RunFailed(Exception):
  """A run that cannot go on: a non-finite loss, a write the disk refused.

  Raised with one sentence saying where it stopped; the last good checkpoint is kept.
  Command-line entry points print it without a traceback and exit with status 1.
  """


class Interrupted(RunFailed):
  """A run stopped by SIGINT or SIGTERM; exits with 128 + the signal's number, as a shell does."""

  def __init__(self, message: str, exit_code: int):
    super().__init__(message)
    self.exit_code = exit_code


def exit_on_user_error(fn, *args, **kwargs):
  """Calls `fn`; a `UserError` becomes `error: <message>` on stderr and exit 2, a `RunFailed`
  or an OSError (disk full, read-only file system) the same with exit 1."""
  try:
    return fn(*args, **kwargs)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  except RunFailed as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(getattr(e, "exit_code", 1))
  except OSError as e:
    where = f" ({e.filename})" if e.filename else ""
    print(f"error: {e.strerror or e}{where}", file=sys.stderr)
    sys.exit(1)
