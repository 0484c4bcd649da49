"""`vadbench` command line: a LightningCLI subclass plus verbs routed before it.

    vadbench fit|validate|test|predict --config CONFIG [--config MORE] [--key value ...]
    vadbench <verb> ...        # synth, data, configs, bench, extract, leaderboard, reproduce, ...

Configs choose model and data by class path (no registry). A `--config` value may be a path to
the user's own YAML or the name of a packaged config (`rtfm/ucf_crime.yaml`, `ssrl_ucf.yaml`),
resolved from any directory. Extra verbs live in `vadbench/commands/<verb>.py`, each a module with
`main(argv) -> int`.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

TRAINER_VERBS = {"fit", "validate", "test", "predict"}


def run_cli(argv: list[str]):
    """Run a trainer verb in-process (used by tests and by `vadbench reproduce`); returns the CLI object."""
    from vadbench.trainer_cli import run_cli as _run

    return _run(argv)


def __getattr__(name: str):
    """`VadbenchCLI` and friends, imported lazily: Lightning loads only when a trainer verb needs it."""
    import vadbench.trainer_cli as trainer_cli

    try:
        return getattr(trainer_cli, name)
    except AttributeError:
        raise AttributeError(f"module 'vadbench.cli' has no attribute {name!r}") from None


def _verbs() -> list[str]:
    here = Path(__file__).parent / "commands"
    return sorted(p.stem.replace("_", "-") for p in here.glob("*.py") if not p.stem.startswith("_"))


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        print("trainer verbs: " + ", ".join(sorted(TRAINER_VERBS)))
        print("other verbs:   " + ", ".join(_verbs()))
        return 0
    verb = argv[0].replace("-", "_") if argv[0] not in TRAINER_VERBS else argv[0]  # ssrl-schedule == ssrl_schedule
    if verb in TRAINER_VERBS:
        from vadbench.errors import debug_enabled, print_error
        from vadbench.trainer_cli import USER_ERRORS

        try:
            run_cli(argv)
        except USER_ERRORS as err:  # VadbenchError and missing files: one message, no traceback
            if debug_enabled():
                raise
            print_error(err)
            return 2
        return 0
    if verb.replace("_", "-") in _verbs():
        from vadbench.errors import VadbenchError, debug_enabled, print_error

        module = importlib.import_module(f"vadbench.commands.{verb}")
        try:
            return int(module.main(argv[1:]) or 0)
        except VadbenchError as err:  # one message naming the file, no traceback (VADBENCH_DEBUG=1: raise)
            if debug_enabled():
                raise
            print_error(err)
            return 2
    print(f"vadbench: unknown verb {verb!r}; trainer verbs: {sorted(TRAINER_VERBS)}, others: {_verbs()}",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
