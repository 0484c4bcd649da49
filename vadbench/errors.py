"""The one base class of every user-facing error, and how the command line prints it.

Raise a `VadbenchError` (or a subclass) for anything the user can fix: a bad or missing input
file, a config that disagrees with the data, an unreadable checkpoint or weight file. The message
names the file (or option) and says what was expected. `vadbench` prints it as one line
`vadbench: error: <message>` and exits non-zero, without a traceback (`VADBENCH_DEBUG=1` re-raises
it with its traceback).

Existing error classes keep their names and their built-in base (`FeatureFileError` is still a
`ValueError`), so `except ValueError` in user code keeps working.
"""

from __future__ import annotations

import os
import sys


class VadbenchError(Exception):
    """A user-facing error: the message names the file or option and what was expected."""


class ConfigError(VadbenchError, ValueError):
    """A config value that is missing, or that disagrees with the data it describes."""


class CheckpointError(VadbenchError, ValueError):
    """A checkpoint file that is missing, truncated or not a Lightning checkpoint."""


class DataError(VadbenchError, ValueError):
    """A data split that cannot be used (empty list, a class missing, ...)."""


def debug_enabled() -> bool:
    return os.environ.get("VADBENCH_DEBUG", "") not in ("", "0")


def print_error(err: BaseException, prog: str = "vadbench") -> None:
    """`<prog>: error: <message>` on stderr (multi-line messages keep their indented detail lines)."""
    text = str(err).strip() or type(err).__name__
    print(f"{prog}: error: {text}", file=sys.stderr)
