"""`vadbench` command line: a LightningCLI subclass for the trainer verbs plus verbs routed before it.

Extra verbs live in `vadbench/commands/<verb>.py`, each a module with `main(argv) -> int`, imported
only when used (so `vadbench --help` and `--version` answer in well under a second). A verb may be
spelled with `-` (the documented form, `ssrl-schedule`) or `_` (`ssrl_schedule`, still accepted).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from vadbench.trainer_args import VERB_LINES

TRAINER_VERBS = {"fit", "validate", "test", "predict"}

USAGE = """usage: vadbench <verb> [options]        (vadbench <verb> --help for a verb's options)

Weakly supervised video anomaly detection (RTFM, SSRL, MSIP, Sultani, STA-MIL) and few-shot
anomalous action recognition (TRX, SKPS-Net) benchmarks. Configs are packaged: pass a name
(`rtfm/ucf_crime.yaml`, `ssrl_ucf.yaml`) or your own YAML to --config, from any folder.

  vadbench fit --config rtfm/synthetic.yaml              # train, then test and write a result JSON
  vadbench fit --config rtfm/synthetic.yaml --config logger/wandb.yaml   # ... logged to wandb (offline)
  vadbench report --results results                      # compare your runs with the papers"""

TRAINER_HELP = VERB_LINES  # one line per trainer verb (vadbench/trainer_args.py)

# One line per verb for `vadbench --help` (a verb missing here shows its module docstring's first line).
VERB_HELP = {
    "bench": "time the data and training paths (speed benchmarks)",
    "complexity": "count a config's parameters and FLOPs",
    "configs": "list the packaged configs (usable by name from any folder)",
    "data": "check your copy of a dataset against its manifest",
    "extract": "extract snippet (and patch) features from raw videos",
    "leaderboard": "regenerate the leaderboard tables (Markdown, CSV, HTML) from result files",
    "msip-schedule": "train MSIP in its stages (CTR, then MPSR) in one command",
    "plot": "draw ROC / PR curves, score timelines and accuracy-vs-shots plots",
    "report": "build the comparison with the papers: numeric wandb tables linked to your runs + an HTML report",
    "reproduce": "run the configs and seeds behind a paper table and print it beside the paper's numbers",
    "skps-keypatch": "draw SKPS-Net's selected key patches on test videos (Fig. 5 style strips)",
    "ssrl-heatmap": "draw SSRL's patch anomaly heatmap over a frame (Fig. 6 style panel)",
    "ssrl-schedule": "train SSRL in its stages (clip, then patch scales) in one command",
    "synth": "write a synthetic dataset to disk in a real dataset's layout",
}


def run_cli(argv: list[str]):
    """Run a trainer verb in-process (used by tests and by `vadbench reproduce`); returns the CLI object."""
    from vadbench.trainer_cli import run_cli as _run

    return _run(argv)


def __getattr__(name: str):
    """`VadbenchCLI` and friends, imported lazily: Lightning loads only when a trainer verb needs it."""
    if name.startswith("__"):  # `from vadbench.cli import main` probes `__path__`: no Lightning for that
        raise AttributeError(f"module 'vadbench.cli' has no attribute {name!r}")
    import vadbench.trainer_cli as trainer_cli

    try:
        return getattr(trainer_cli, name)
    except AttributeError:
        raise AttributeError(f"module 'vadbench.cli' has no attribute {name!r}") from None


def _verbs() -> list[str]:
    here = Path(__file__).parent / "commands"
    return sorted(p.stem.replace("_", "-") for p in here.glob("*.py") if not p.stem.startswith("_"))


def _verb_line(verb: str) -> str:
    if verb in VERB_HELP:
        return VERB_HELP[verb]
    text = (Path(__file__).parent / "commands" / f"{verb.replace('-', '_')}.py").read_text(encoding="utf-8")
    first = text.split('"""', 2)[1].strip().splitlines()[0] if text.startswith('"""') else ""
    return first.split("`:", 1)[-1].strip().rstrip(".") or "(no description)"


def usage() -> str:
    width = max(len(v) for v in [*TRAINER_VERBS, *_verbs()]) + 2
    lines = [USAGE, "", "trainer verbs (Lightning; `vadbench fit --help`: vadbench's options and the config names):"]
    lines += [f"  {v:<{width}}{TRAINER_HELP[v]}" for v in ("fit", "validate", "test", "predict")]
    lines += ["", "other verbs:"]
    lines += [f"  {v:<{width}}{_verb_line(v)}" for v in _verbs()]
    lines += ["", "options:", f"  {'-h, --help':<{width}}this message", f"  {'--version':<{width}}print the version"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("--version", "-V", "version"):
        from vadbench import __version__

        print(f"vadbench {__version__}")
        return 0
    verb = argv[0].replace("-", "_") if argv[0] not in TRAINER_VERBS else argv[0]  # ssrl-schedule == ssrl_schedule
    if verb in TRAINER_VERBS:
        from vadbench.errors import VadbenchError, debug_enabled, print_error
        from vadbench.trainer_args import FULL_HELP, check_args, short_help

        rest = argv[1:]
        if FULL_HELP in rest:   # Lightning's own help: every trainer / model / data option
            argv = [verb] + ["--help" if a == FULL_HELP else a for a in rest]
        elif "-h" in rest or "--help" in rest:
            print(short_help(verb))
            return 0
        else:
            try:   # the common mistakes answered in well under a second, before Lightning is imported
                check_args(verb, rest)
            except (VadbenchError, FileNotFoundError) as err:
                if debug_enabled():
                    raise
                print_error(err)
                return 2
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
