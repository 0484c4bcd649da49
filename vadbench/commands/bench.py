"""`vadbench bench <name>`: benchmarks that print ratios measured in one run, headline figure last.

    vadbench bench rtfm            # Lightning step / bare PyTorch loop, 4+4 and 32+32, seconds per step
    vadbench bench trx-cache       # embedding cache vs recompute, projected to 10,000 episodes
    vadbench bench memory          # peak RSS of fit+test in one process at two dataset sizes
    vadbench bench extract         # vadbench extract / bare PyAV decode of the same videos
    vadbench bench fewshot-input   # few-shot training loader supply vs TRX demand (CPU; GPU estimate)
    vadbench bench gpu             # every model: fp32 vs bf16-mixed step time, memory, throughput, metric

Each runs on the CPU and, when CUDA is available, adds a GPU column (`--device` to choose; `gpu`
runs on CUDA when available, else on the CPU, and says which). The
implementations live in `vadbench/benchmarks/`; `vadbench bench <name> --help` lists the sizes.
"""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS = {"rtfm": "rtfm", "trx-cache": "trx_cache", "memory": "memory", "extract": "extract",
              "fewshot-input": "fewshot_input", "gpu": "gpu"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vadbench bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="name", required=True)
    modules = {}
    for name, module in BENCHMARKS.items():
        mod = importlib.import_module(f"vadbench.benchmarks.{module}")
        modules[name] = mod
        p = sub.add_parser(name, help=mod.__doc__.split("\n")[0].split(": ", 1)[-1], description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
    args = parser.parse_args(argv)
    return modules[args.name].main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
