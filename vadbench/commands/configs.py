"""`vadbench configs [FILTER]`: list the packaged configs (usable by name from any directory)."""

from __future__ import annotations

import argparse

from vadbench.paths import CONFIGS_DIR, list_configs


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vadbench configs", description=__doc__)
    parser.add_argument("filter", nargs="?", default="", help="only names containing this text")
    args = parser.parse_args(argv)
    print(f"# packaged configs under {CONFIGS_DIR} (pass as --config <name>)")
    for name in list_configs():
        if args.filter in name:
            print(name)
    return 0
