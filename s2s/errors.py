"""Errors a user can cause, and the CLI wrapper that reports them as one line."""

import sys


class UserError(Exception):
  """A mistake in a config value, a query, a path or a workdir.

  Raised with one sentence that names what is wrong; command-line entry points
  print it without a traceback and exit with status 2.
  """


def exit_on_user_error(fn, *args, **kwargs):
  """Calls `fn`; a `UserError` becomes `error: <message>` on stderr and exit 2."""
  try:
    return fn(*args, **kwargs)
  except UserError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
