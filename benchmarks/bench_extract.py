"""Same as `vadbench bench extract` (the implementation is vadbench/benchmarks/extract.py)."""

import sys

from vadbench.commands.bench import main

if __name__ == "__main__":
    sys.exit(main(["extract", *sys.argv[1:]]))
