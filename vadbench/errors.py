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
from pathlib import Path


class VadbenchError(Exception):
    """A user-facing error: the message names the file or option and what was expected."""


class ConfigError(VadbenchError, ValueError):
    """A config value that is missing, or that disagrees with the data it describes."""


class CheckpointError(VadbenchError, ValueError):
    """A checkpoint file that is missing, truncated or not a Lightning checkpoint."""


class DataError(VadbenchError, ValueError):
    """A data split that cannot be used (empty list, a class missing, ...)."""


def not_a_file(path: str | Path) -> str | None:
    """Why `path` cannot be read as a file, for an error message (None when it is a regular file):
    `is a directory, not a file`, `is not a regular file` or `not found`."""
    p = Path(path)
    if p.is_file():
        return None
    if p.is_dir():
        return "is a directory, not a file"
    return "is not a regular file" if p.exists() else "not found"


def debug_enabled() -> bool:
    return os.environ.get("VADBENCH_DEBUG", "") not in ("", "0")


def print_error(err: BaseException, prog: str = "vadbench") -> None:
    """`<prog>: error: <message>` on stderr (multi-line messages keep their indented detail lines)."""
    text = str(err).strip() or type(err).__name__
    print(f"{prog}: error: {text}", file=sys.stderr)


# jsonargparse's lines that only say where in the nesting a bad value sits
_STRUCTURE = ("Does not validate against any of the Union subtypes", "Subtypes:", "Errors:", "Given value type:",
              "Given value:", "- Expected a <class 'NoneType'>", "Problem with given class_path")


def config_error_from_parser(err: BaseException) -> ConfigError:
    """A jsonargparse parse error (a wrong option name or value) as one readable `ConfigError`:
    the option's full key and jsonargparse's innermost reason, e.g.
    `--model.init_args.net.init_args.k: Expected a <class 'int'>. Got value: abc`."""
    import re

    keys, detail = [], []
    for raw in str(err).splitlines():
        line = raw.strip()
        if not line:
            continue
        match = re.match(r'(?:- )?Parser key "([^"]+)":\s*(.*)$', line)
        if match:
            keys.append(match.group(1))
            if match.group(2):
                detail.append(match.group(2))
            continue
        if line.startswith(_STRUCTURE) or line.lstrip("- ").startswith(_STRUCTURE):
            continue
        detail.append(line.lstrip("- "))
    nested = re.search(r"NestedArg\(key='([^']+)'", str(err))   # the full key under a class_path
    if keys and nested:
        where = f"--{keys[0]}.init_args.{nested.group(1)}"
    else:
        where = "--" + ".".join(keys) if keys else "the command line / config"
    reason = detail[0] if detail else str(err).strip()
    return ConfigError(f"{where}: {reason} (VADBENCH_DEBUG=1 shows jsonargparse's full message)")
