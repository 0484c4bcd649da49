"""`vadbench leaderboard`: regenerate the leaderboard tables from the metafile and result files.

    vadbench leaderboard [--results DIR ...] [--out DIR] [--plots] [--wandb] [--check]
    vadbench leaderboard --committed [--plots] [--check]     # the repository's board (= make leaderboard)

Reads your result files (default `./results`, where `vadbench fit|test` write them) and writes
`<out>/README.md`, `<out>/leaderboard.csv` and `<out>/leaderboard.html` (default out: `./leaderboard/`),
deterministically: sorted, no timestamps. The board committed in a source checkout
(`leaderboards/`, built from `leaderboards/results`) is rebuilt only by `--committed` (or `make
leaderboard`). Results on different test sets of one dataset name (different data fingerprints) get
separate tables. `--plots` also writes PNGs under `<out>/plots/` and embeds them; `--wandb` logs the
numeric comparison tables and plots to a wandb run (as `vadbench report` does; offline unless you are
logged in or WANDB_MODE says otherwise); `--check` writes nothing and fails if the files are stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vadbench.paths import LEADERBOARDS_DIR

OUTPUT_FILES = ("README.md", "leaderboard.csv", "leaderboard.html")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vadbench leaderboard", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", nargs="+", default=None,
                   help="result JSON files or folders (searched recursively); default ./results")
    p.add_argument("--out", default=None, help="output folder (default ./leaderboard)")
    p.add_argument("--committed", action="store_true",
                   help="the board committed in a source checkout: --results leaderboards/results --out leaderboards")
    p.add_argument("--metafile", default=None, help="a metafile, or a folder of <model>/metafile.yml (default: the one beside every model)")
    p.add_argument("--plots", action="store_true", help="write PNG plots under <out>/plots and embed them")
    p.add_argument("--wandb", action="store_true", help="log tables and plots to wandb (offline by default)")
    p.add_argument("--wandb-project", default="vadbench", help="wandb project (default vadbench)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if the files in --out are stale")
    return p


def generate(results: list[str], out: str | Path, metafile: str | None = None, plots: bool = False) -> dict:
    """Build the outputs; returns {file name: text} plus the intermediate objects under '_'."""
    from vadbench.leaderboard.board import group_records, render_csv, render_html, render_markdown
    from vadbench.leaderboard.metafile import load_metafile
    from vadbench.results import load_records

    meta = load_metafile(metafile)
    paths = [Path(r) for r in results]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise FileNotFoundError(f"result path(s) not found: {missing}")
    records = load_records(paths)
    groups = group_records(records)
    plot_files: list[Path] = []
    if plots:
        from vadbench.leaderboard.plots import leaderboard_plots

        plot_files = leaderboard_plots(records, meta, groups, Path(out) / "plots")
    rel = [p.relative_to(Path(out)).as_posix() for p in plot_files]
    texts = {
        "README.md": render_markdown(meta, groups, len(records), rel, sources=results),
        "leaderboard.csv": render_csv(meta, groups),
        "leaderboard.html": render_html(meta, groups, len(records), rel, sources=results),
    }
    texts["_"] = {"meta": meta, "records": records, "groups": groups, "plots": plot_files}
    return texts


def resolve_paths(args) -> tuple[list[str], Path]:
    """--results / --out, or the committed board's folders with --committed (a source checkout only)."""
    if args.committed:
        if args.results or args.out:
            raise ValueError("--committed chooses both folders (leaderboards/results -> leaderboards): "
                             "give it without --results / --out")
        if not (LEADERBOARDS_DIR / "results").is_dir():
            raise FileNotFoundError("--committed: no committed board here (leaderboards/ exists in a source checkout "
                                    "of vadbench, not in an installed package); pass --results DIR")
        return [str(LEADERBOARDS_DIR / "results")], LEADERBOARDS_DIR
    results = args.results or ["results"]
    if not args.results and not Path("results").exists():
        raise FileNotFoundError(f"no ./results in {Path.cwd()} (where `vadbench fit` writes result files); pass "
                                f"--results DIR, or --committed for the board of a source checkout")
    return results, Path(args.out or "leaderboard")


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.results, out = resolve_paths(args)
        texts = generate(args.results, out, args.metafile, plots=args.plots and not args.check)
    except (FileNotFoundError, ValueError) as err:
        print(f"vadbench leaderboard: error: {err}", file=sys.stderr)
        return 2
    extra = texts.pop("_")
    if args.check:
        stale = [n for n, t in texts.items()
                 if not (out / n).is_file() or (out / n).read_text(encoding="utf-8") != t]
        if stale:
            again = "vadbench leaderboard --committed" if args.committed else "vadbench leaderboard" + "".join(
                f" {a}" for a in argv if a != "--check")
            print(f"vadbench leaderboard: stale: {', '.join(str(out / n) for n in stale)}; "
                  f"run `{again}` to regenerate", file=sys.stderr)
            return 1
        print(f"vadbench leaderboard: {out} is up to date")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (out / name).write_text(text, encoding="utf-8")
    print(f"vadbench leaderboard: {len(extra['records'])} result file(s), {len(extra['groups'])} group(s) -> "
          + ", ".join(str(out / n) for n in texts))
    for p in extra["plots"]:
        print(f"  plot: {p}")
    if args.wandb:
        from vadbench.leaderboard.wandb_report import log_report, numeric_tables

        tables = numeric_tables(extra["meta"], extra["groups"])
        run_dir = log_report(tables, extra["plots"], project=args.wandb_project, name="leaderboard",
                             config={"results": args.results, "num_results": len(extra["records"])})
        print(f"vadbench leaderboard: wandb run in {run_dir} (offline runs: `wandb sync {run_dir}`)")
    return 0
