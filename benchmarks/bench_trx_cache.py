"""Same as `vadbench bench trx-cache` (the implementation is vadbench/benchmarks/trx_cache.py)."""

import sys

from vadbench.commands.bench import main

if __name__ == "__main__":
    sys.exit(main(["trx-cache", *sys.argv[1:]]))
