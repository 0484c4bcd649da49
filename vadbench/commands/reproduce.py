"""`vadbench reproduce <table>`: run the configs and seeds behind a paper table, then print it beside the paper's.

    vadbench reproduce --list
    vadbench reproduce rtfm-baseline [--data real|synthetic] [--seeds 0 1 2] [--dry-run]
                       [--models M ...] [--settings S ...] [--datasets D ...]
                       [--root DATASET=FOLDER ...] [--devices N | --gpus N] [--results-dir DIR]
                       [--work-dir DIR] [--max-steps N] [--out table.md] [-- EXTRA OVERRIDES ...]

Each run is `vadbench fit --config <cfg> [overrides] --setting <tag> --seed_everything <seed>
--results_dir <dir>` in its own process, logged to `<work-dir>/logs/<run>.log`. A run whose result
already exists in the results folder (same model, dataset, setting, seed, data source) is skipped.
`--data synthetic` uses each model's synthetic config with few steps: a CPU smoke test of the table.
Arguments after `--` are appended verbatim to every run (e.g. `-- --trainer.enable_progress_bar=false`).
`--devices N` runs N at a time, one GPU each (CUDA_VISIBLE_DEVICES); otherwise runs are sequential.
A failed run is reported (name and log) without stopping the others; the exit code is 1 if any failed.
`--models`, `--settings`, `--datasets` run a part of the table (e.g. `skps-table1 --settings 5w10s`); the
printed table still shows every row, with the results that exist.
`--root ucf_crime=/data/ucf --root shanghaitech=/data/sh` gives each dataset its data folder: every run
reading that dataset gets `--data.init_args.root` (or `test_root`, for a few-shot config that tests on
another dataset, e.g. `--root kinetics100=... --root ucf_crime_v2=...`).
Tables: the `tables:` of each model's metafile (vadbench/models/<model>/metafile.yml), with the model's
`ablations:`; a new model's metafile adds its tables here with no other edit.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path



def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vadbench reproduce", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("table", nargs="?", help="table id (see --list)")
    p.add_argument("--list", action="store_true", help="list the table ids and exit")
    p.add_argument("--data", choices=("real", "synthetic"), default="real",
                   help="real: the paper configs; synthetic: each model's synthetic config, few steps, CPU")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: the table's)")
    p.add_argument("--dry-run", action="store_true", help="list the runs (and which already exist); run nothing")
    p.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                   help="run only the table's rows of these models (e.g. --models trx)")
    p.add_argument("--settings", nargs="+", default=None, metavar="SETTING",
                   help="run only the table's rows with these settings (e.g. --settings 5w10s)")
    p.add_argument("--datasets", nargs="+", default=None, metavar="DATASET",
                   help="run only on these of the table's datasets (real data, e.g. --datasets ucsd_ped2)")
    p.add_argument("--devices", "--gpus", dest="devices", type=int, default=0,
                   help="run N at a time, one GPU each (default: sequential, accelerator from the config)")
    p.add_argument("--results-dir", default=None,
                   help="where result JSONs go (default: ./results for real data, ./results/synthetic for "
                        "synthetic; the committed board's: leaderboards/results)")
    p.add_argument("--work-dir", default=None, help="logs and checkpoints (default runs/reproduce/<table>)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="--trainer.max_steps of every run (synthetic default: the table's, 50)")
    p.add_argument("--out", default=None, help="also write the rendered table (markdown) to this file")
    p.add_argument("--root", action="append", default=None, metavar="DATASET=FOLDER",
                   help="data folder of one dataset (repeat per dataset), e.g. --root ucf_crime=/data/UCF_I3D")
    p.add_argument("--metafiles", "--tables", dest="metafiles", default=None,
                   help="read the tables from this metafile or folder of <model>/metafile.yml "
                        "(default: the metafile beside every model)")
    return p


def _existing(results_dir: Path) -> list[dict]:
    from vadbench.results import load_records

    return load_records([results_dir]) if results_dir.is_dir() else []


# The command that runs `vadbench fit ...` (tests swap it for a stub).
FIT_COMMAND = [sys.executable, "-m", "vadbench.cli"]


def _launch(run, results_dir: Path, work_dir: Path, device: int | None) -> tuple[subprocess.Popen, Path]:
    log = work_dir / "logs" / f"{run.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    args = run.fit_args(results_dir, work_dir / "runs")
    env = dict(os.environ)
    if device is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(device)
        args += ["--trainer.accelerator=gpu", "--trainer.devices=1"]
    cmd = [*FIT_COMMAND, *args]
    fh = open(log, "w", encoding="utf-8")
    fh.write("$ " + " ".join(shlex.quote(c) for c in ["vadbench", *args]) + "\n")
    fh.flush()
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
    proc._vadbench_log = fh  # closed when the run ends
    return proc, log


def execute(runs, results_dir: Path, work_dir: Path, devices: int) -> list[tuple[str, Path, str]]:
    """Run `runs` (sequentially, or `devices` at a time one GPU each); returns the failures."""
    failures: list[tuple[str, Path, str]] = []
    pending = list(runs)
    active: dict[int | None, tuple] = {}
    slots: list[int | None] = list(range(devices)) if devices > 0 else [None]
    total, done = len(runs), 0
    while pending or active:
        for slot in slots:
            if slot not in active and pending:
                run = pending.pop(0)
                proc, log = _launch(run, results_dir, work_dir, slot)
                active[slot] = (run, proc, log, time.time())
                where = f" on GPU {slot}" if slot is not None else ""
                print(f"[{done + len(active)}/{total}] start {run.name}{where} (log {log})", flush=True)
        time.sleep(0.2)
        for slot, (run, proc, log, t0) in list(active.items()):
            rc = proc.poll()
            if rc is None:
                continue
            proc._vadbench_log.close()
            del active[slot]
            done += 1
            ok = rc == 0 and any(run.matches(r) for r in _existing(results_dir))
            status = "ok" if ok else (f"FAILED (exit {rc})" if rc != 0 else "FAILED (no result file written)")
            print(f"[{done}/{total}] {status}: {run.name} in {time.time() - t0:.0f} s", flush=True)
            if not ok:
                failures.append((run.name, log, status))
    return failures


def main(argv: list[str]) -> int:
    from vadbench.leaderboard.board import group_records, markdown_table, reproduce_table
    from vadbench.leaderboard.metafile import load_metafile, metafile_paths
    from vadbench.leaderboard.specs import load_specs, missing_roots, parse_roots, plan_runs

    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = build_parser().parse_args(argv)
    try:
        specs = load_specs(args.metafiles)
        roots = parse_roots(args.root)
    except ValueError as err:
        print(f"vadbench reproduce: error: {err}", file=sys.stderr)
        return 2
    if args.list or not args.table:
        for tid, spec in sorted(specs.tables.items()):
            print(f"{tid:18s} {spec.title}")
        return 0 if args.list else 2
    try:
        spec = specs.get(args.table)
        runs, missing = plan_runs(specs, spec, data=args.data, seeds=args.seeds, max_steps=args.max_steps,
                                  extra=extra, roots=roots)
    except (KeyError, ValueError) as err:
        print(f"vadbench reproduce: error: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr)
        return 2
    for flag, wanted, value in (("--models", args.models, lambda r: r.row.model),
                                ("--settings", args.settings, lambda r: r.row.setting),
                                ("--datasets", args.datasets, lambda r: r.dataset)):
        if wanted is None:
            continue
        known = sorted({value(r) for r in runs})
        unknown = [w for w in wanted if w not in known]
        if unknown:
            print(f"vadbench reproduce: error: {flag} {' '.join(unknown)}: table {spec.id!r} ({args.data} data) "
                  f"has no run with that; expected one of {known}", file=sys.stderr)
            return 2
        runs = [r for r in runs if value(r) in wanted]
        missing = [m for m in missing if any(r.config == m for r in runs)]
    if missing:
        print(f"vadbench reproduce: error: table {spec.id!r} ({args.data} data) needs config file(s) that do not "
              f"exist: {', '.join(str(m) for m in missing)}", file=sys.stderr)
        return 2
    # outputs under the working directory, as every verb's (the committed board: --results-dir leaderboards/results)
    default_results = Path("results") if args.data == "real" else Path("results") / "synthetic"
    results_dir = Path(args.results_dir) if args.results_dir else default_results
    work_dir = Path(args.work_dir) if args.work_dir else Path("runs") / "reproduce" / spec.id
    try:
        existing = _existing(results_dir)
    except ValueError as err:
        print(f"vadbench reproduce: error: {err}", file=sys.stderr)
        return 2
    todo = [r for r in runs if not any(r.matches(rec) for rec in existing)]
    print(f"vadbench reproduce {spec.id}: {len(runs)} run(s), {len(runs) - len(todo)} already in {results_dir}, "
          f"{len(todo)} to run")
    no_root = {r.name: ds for r, ds in ((r, missing_roots(r)) for r in todo) if ds}
    if args.dry_run:
        for r in runs:
            state = "exists" if r not in todo else ("needs --root " + ",".join(no_root[r.name]) if r.name in no_root
                                                     else "to run")
            print(f"  [{state}] {r.name}: vadbench " + " ".join(shlex.quote(a) for a in r.fit_args(results_dir, work_dir / "runs")))
    if no_root:
        datasets = sorted({d for ds in no_root.values() for d in ds})
        print(f"vadbench reproduce: {'note' if args.dry_run else 'error'}: {len(no_root)} run(s) have no data folder "
              f"for {', '.join(datasets)} (or it does not exist) and would fail: give "
              + " ".join(f"--root {d}=DIR" for d in datasets) + " (`vadbench data info DATASET` says what each holds), "
              "or --data synthetic for a CPU smoke test", file=sys.stderr)
        if not args.dry_run:
            return 2
    if args.dry_run:
        return 0
    failures = execute(todo, results_dir, work_dir, args.devices) if todo else []
    # the paper numbers: every model's metafile, plus those given with --metafiles
    packaged = metafile_paths(None)
    meta = load_metafile(packaged + [p for p in metafile_paths(args.metafiles) if p not in packaged]
                         if args.metafiles else None)
    groups = group_records(_existing(results_dir))
    table = reproduce_table(meta, spec, groups, data_source=args.data)
    text = f"## {spec.id}\n\n{table.caption}\n\n{markdown_table(table)}\n"
    print()
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
    if failures:
        print(f"vadbench reproduce: {len(failures)} run(s) failed:", file=sys.stderr)
        for name, log, status in failures:
            print(f"  {name}: {status}; log: {log}", file=sys.stderr)
        return 1
    return 0
