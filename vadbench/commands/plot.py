"""`vadbench plot`: PNG plots from score files and result files.

    vadbench plot roc      --scores A.scores.npz [B.scores.npz ...] [--labels A B] --out roc.png
    vadbench plot roc      [--results DIR] [--dataset ucf_crime] --out roc.png     (default ./results)
    vadbench plot timeline --scores A.scores.npz [B.scores.npz ...] [--video NAME] --out timeline.png
    vadbench plot shots    [--results DIR] --out shots.png

roc: frame-level ROC and PR curves, one per model (the scores files written beside result JSONs); with
--results, one row of plots per test set of the dataset (--dataset only when the folder holds several).
timeline: one video's per-frame scores of each model, ground-truth anomalies shaded (default: the
first anomalous video). shots: few-shot accuracy vs shots per model, the papers' numbers dashed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vadbench plot", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="kind", required=True)
    roc = sub.add_parser("roc", help="ROC and PR curves per model on one dataset")
    roc.add_argument("--scores", nargs="+", default=None, help="scores files (.scores.npz)")
    roc.add_argument("--labels", nargs="+", default=None, help="legend labels, one per scores file")
    roc.add_argument("--results", nargs="+", default=None,
                     help="result folders/files: use their scores files (default ./results when no --scores)")
    roc.add_argument("--dataset", default=None, help="with --results: the dataset to plot (when it holds several)")
    roc.add_argument("--out", required=True)
    roc.add_argument("--title", default="")
    tl = sub.add_parser("timeline", help="per-video score timeline with ground-truth shading")
    tl.add_argument("--scores", nargs="+", required=True, help="scores files (.scores.npz), one per model")
    tl.add_argument("--labels", nargs="+", default=None, help="legend labels, one per scores file")
    tl.add_argument("--video", default=None, help="video name (default: the first anomalous video)")
    tl.add_argument("--out", required=True)
    tl.add_argument("--title", default="")
    sh = sub.add_parser("shots", help="few-shot accuracy vs shots per model")
    sh.add_argument("--results", nargs="+", default=["results"], help="result folders/files (default ./results)")
    sh.add_argument("--no-paper", action="store_true", help="do not draw the papers' numbers")
    sh.add_argument("--out", required=True)
    sh.add_argument("--title", default="")
    return p


def _labels(args, files) -> list[str]:
    if args.labels and len(args.labels) != len(files):
        raise ValueError(f"--labels has {len(args.labels)} names for {len(files)} scores files")
    return list(args.labels) if args.labels else [Path(f).name.replace(".scores.npz", "") for f in files]


def _existing(results: list[str]) -> list[str]:
    missing = [r for r in results if not Path(r).exists()]
    if missing:
        raise ValueError(f"result path(s) not found: {missing} (where `vadbench fit|test` write result files, "
                         f"./results by default); pass --results DIR")
    return results


def _curves_from_results(results: list[str], dataset: str | None) -> dict:
    """{test set: {model label: (frame scores, frame labels)}} of one dataset's scores files under `results`;
    the dataset may be left out when the folder holds one. Each test set (data fingerprint) of the dataset
    gets its own row of plots, never shared axes."""
    from vadbench.leaderboard import plots
    from vadbench.results import load_records

    files = plots.score_files_by_group(load_records(_existing(results)))
    datasets = sorted({k[0] for k in files})
    if not datasets:
        raise ValueError(f"no scores files (<result>.scores.npz, written by every MIL test) under {results}")
    if dataset is None:
        if len(datasets) > 1:
            raise ValueError(f"{results} holds several datasets ({', '.join(datasets)}): choose one with --dataset")
        dataset = datasets[0]
    mine = {k: sf for k, sf in files.items() if k[0] == dataset}
    if not mine:
        raise ValueError(f"no scores files (<result>.scores.npz) for dataset {dataset!r} under {results}; "
                         f"datasets there: {', '.join(datasets)}")
    fps = sorted({k[4] for k in mine})
    sets: dict[str, dict] = {}
    for k, sf in mine.items():
        name = f"{dataset} (test set {k[4].split(':')[-1][:6]})" if len(fps) > 1 else dataset
        sets.setdefault(name, {})[plots._series_label(k[1], k[2], k[3])] = sf.frames()
    return sets


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    from vadbench.leaderboard import plots
    from vadbench.leaderboard.scores import load_scores

    try:
        if args.kind == "roc":
            if args.scores:
                curves = {lab: load_scores(f).frames() for lab, f in zip(_labels(args, args.scores), args.scores)}
            else:
                curves = _curves_from_results(args.results or ["results"], args.dataset)
            out = plots.plot_roc_pr(curves, args.out, title=args.title)
        elif args.kind == "timeline":
            files = [load_scores(f) for f in args.scores]
            name = args.video
            if name is None:
                anomalous = [v.name for v in files[0].videos if v.frame_labels.any()]
                name = anomalous[0] if anomalous else files[0].videos[0].name
            series = {lab: sf.video(name) for lab, sf in zip(_labels(args, args.scores), files)}
            out = plots.plot_timeline(series, args.out, title=args.title or Path(name).stem)
        else:
            from vadbench.leaderboard.board import group_records
            from vadbench.leaderboard.metafile import load_metafile
            from vadbench.results import load_records

            meta = load_metafile()
            groups = group_records(load_records(_existing(args.results)))
            points = plots.shots_points(meta, groups)
            if args.no_paper:
                points = [p for p in points if not p.get("paper")]
            if not any(not p.get("paper") for p in points):
                raise ValueError(f"no few-shot results (setting '<W>w<K>s' with an accuracy) under {args.results}")
            out = plots.plot_shots(points, args.out, title=args.title)
    except (OSError, ValueError, KeyError) as err:
        print(f"vadbench plot: error: {err}", file=sys.stderr)
        return 2
    print(f"vadbench plot: wrote {out}")
    return 0
