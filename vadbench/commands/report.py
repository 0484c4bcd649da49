"""`vadbench report`: the comparison of your runs with the papers, as a wandb run and an HTML page.

    vadbench report [--results DIR ...] [--out DIR] [--project NAME] [--no-wandb] [--no-plots]

Reads the result JSON files (folders searched recursively; default `results/`, where `vadbench
fit|test` write them), groups them by model x setting x test set (data fingerprint, never the dataset
name alone) over seeds, and writes:

- `<out>/report.html`: one numeric table per paper table our real-data results touch, then one per test
  set (mean, std, number of seeds and the paper's number as numbers, the wandb runs aggregated, or each
  seed's run folder and result file), the training-loss curves of the runs (per group, mean ± std over
  seeds, read from the run folders' CSV / wandb / TensorBoard logs, offline) and the ROC / PR and
  timeline plots under `<out>/plots/`: for readers without wandb;
- `<out>/report.json`: the same tables, machine-readable;
- a wandb run (job type `report`, offline unless you are logged in or set WANDB_MODE) holding one
  `wandb.Table` per table, linked to the runs it aggregates (their paths, from the result JSONs),
  and the plots; its files go under `<out>/wandb/` (or WANDB_DIR). Upload with `wandb sync`.

Default out: `./report/` in the working directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vadbench report", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--results", nargs="+", default=["results"],
                   help="result JSON files or folders (searched recursively); default ./results")
    p.add_argument("--out", default="report", help="output folder (default ./report)")
    p.add_argument("--metafile", default=None, help="metafile of published numbers (default: the packaged one)")
    p.add_argument("--project", default="vadbench", help="wandb project of the report run (default vadbench)")
    p.add_argument("--name", default="report", help="wandb run name (default report)")
    p.add_argument("--no-wandb", action="store_true", help="write the HTML report only")
    p.add_argument("--no-plots", action="store_true", help="skip the ROC / PR / timeline / shots plots")
    return p


def build(results: list[str], out: str | Path, metafile: str | None = None, plots: bool = True) -> dict:
    """Tables, plots and the HTML text; {'tables', 'plots', 'records', 'html'}."""
    from vadbench.leaderboard.board import group_records
    from vadbench.leaderboard.metafile import load_metafile
    from vadbench.leaderboard.wandb_report import numeric_tables, render_report_html
    from vadbench.results import load_records

    missing = [r for r in results if not Path(r).exists()]
    if missing:
        raise FileNotFoundError(f"result path(s) not found: {missing}; pass --results DIR (where `vadbench fit` "
                                f"wrote its result JSON files, default ./results)")
    meta = load_metafile(metafile)
    records = load_records([Path(r) for r in results])
    if not records:
        raise ValueError(f"no result JSON files under {results}")
    groups = group_records(records)
    tables = numeric_tables(meta, groups)
    plot_files: list[Path] = []
    if plots:
        from vadbench.leaderboard.curves import loss_curves
        from vadbench.leaderboard.plots import leaderboard_plots

        plot_files = loss_curves(groups, Path(out) / "plots") + leaderboard_plots(records, meta, groups,
                                                                                  Path(out) / "plots")
    rel = [p.relative_to(Path(out)).as_posix() for p in plot_files]
    return {"tables": tables, "plots": plot_files, "records": records,
            "html": render_report_html(tables, rel, results, out)}


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    try:
        built = build(args.results, out, args.metafile, plots=not args.no_plots)
    except (FileNotFoundError, ValueError) as err:
        print(f"vadbench report: error: {err}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(built["html"], encoding="utf-8")
    (out / "report.json").write_text(json.dumps(
        [{"key": t.key, "title": t.title, "caption": t.caption, "columns": t.columns, "rows": t.rows}
         for t in built["tables"]], indent=1) + "\n", encoding="utf-8")
    print(f"vadbench report: {len(built['records'])} result file(s), {len(built['tables'])} table(s), "
          f"{len(built['plots'])} plot(s) -> {out / 'report.html'}")
    if not args.no_wandb:
        from vadbench.leaderboard.wandb_report import log_report
        import os

        run_dir = log_report(built["tables"], built["plots"], project=args.project, name=args.name,
                             config={"results": args.results, "num_results": len(built["records"])},
                             save_dir=os.environ.get("WANDB_DIR") or out)
        print(f"vadbench report: wandb run in {run_dir} (offline runs: `wandb sync {run_dir}`)")
    return 0
