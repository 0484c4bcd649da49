"""Training-loss curves of several runs, read back from their run folders (never a network call).

`vadbench report` draws them beside its tables: one figure per test set, one panel per loss term
(`train/loss` first, then the terms the model logs), one line per result group (model x setting x
provenance: the rows of the tables) = the mean over its seeds, with a band of ± one sample std (none
with one seed).

Where a run's history is found (its folder is the result JSON's `extras.run_dir`; for a `vadbench test`
result, the folder of the tested checkpoint, `<run>/checkpoints/last.ckpt`):
- the CSV log Lightning writes with its default logger: `<run>/lightning_logs/version_*/metrics.csv`;
- a wandb run, offline or online (its local transaction log): `<run>/wandb/*run-*/*.wandb`;
- TensorBoard event files (`events.out.tfevents.*`), when the `tensorboard` package is installed (the
  only case in which Lightning writes them).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Sequence

import numpy as np

TRAIN_PREFIX = "train/"
MAX_PANELS = 6


def run_folder(record: dict) -> Path | None:
    """The folder holding a result's training logs: its run folder, or its checkpoint's run folder."""
    candidates = []
    run_dir = (record.get("extras") or {}).get("run_dir")
    if run_dir:
        candidates.append(Path(run_dir))
    ckpt = record.get("ckpt_path")
    if ckpt and Path(str(ckpt)).suffix:
        ckpt = Path(str(ckpt))
        candidates.append(ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent)
    for folder in candidates:
        if folder.is_dir() and read_history(folder):
            return folder
    return None


def _csv_history(folder: Path) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for path in sorted(folder.glob("lightning_logs/version_*/metrics.csv")) + sorted(folder.glob("*/metrics.csv")):
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                step = row.get("step")
                if not step:
                    continue
                for key, value in row.items():
                    if key and key.startswith(TRAIN_PREFIX) and value not in (None, ""):
                        out.setdefault(key, {})[int(float(step))] = float(value)
        if out:
            break
    return out


def _wandb_history(folder: Path) -> dict[str, dict[int, float]]:
    from vadbench.leaderboard.wandb_report import read_offline_run

    out: dict[str, dict[int, float]] = {}
    for run in sorted(folder.glob("wandb/*run-*")):
        if not run.is_dir() or not any(run.glob("*.wandb")):
            continue
        for row in read_offline_run(run, wait_s=0)["history"]:
            step = row.get("trainer/global_step")
            if step is None:
                continue
            for key, value in row.items():
                if key.startswith(TRAIN_PREFIX) and isinstance(value, (int, float)):
                    out.setdefault(key, {})[int(step)] = float(value)
        if out:
            break
    return out


def _tensorboard_history(folder: Path) -> dict[str, dict[int, float]]:
    files = sorted(folder.rglob("events.out.tfevents.*"))
    if not files:
        return {}
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return {}
    out: dict[str, dict[int, float]] = {}
    acc = EventAccumulator(str(files[0].parent))
    acc.Reload()
    for key in acc.Tags().get("scalars", []):
        if key.startswith(TRAIN_PREFIX):
            out[key] = {int(e.step): float(e.value) for e in acc.Scalars(key)}
    return out


def read_history(folder: str | Path) -> dict[str, dict[int, float]]:
    """{`train/<term>`: {global step: value}} of one run folder (CSV, then wandb, then TensorBoard logs)."""
    folder = Path(folder)
    for reader in (_csv_history, _wandb_history, _tensorboard_history):
        found = reader(folder)
        found = {k: v for k, v in found.items() if v and k != "train/epoch"}
        if found:
            return found
    return {}


def mean_band(histories: Sequence[dict[int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Steps, mean and sample std over seeds, on the steps of every seed within their common range
    (seeds logged at other steps are interpolated; the std is 0 with one seed)."""
    curves = [(np.array(sorted(h)), np.array([h[s] for s in sorted(h)])) for h in histories if h]
    lo = max(c[0][0] for c in curves)
    hi = min(c[0][-1] for c in curves)
    steps = np.unique(np.concatenate([c[0][(c[0] >= lo) & (c[0] <= hi)] for c in curves]))
    values = np.stack([np.interp(steps, x, y) for x, y in curves])
    std = values.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(len(steps))
    return steps, values.mean(axis=0), std


def loss_curves(groups, out_dir: str | Path) -> list[Path]:
    """One PNG per test set with the loss curves of its groups (see the module docstring); groups
    whose runs left no training log (e.g. results copied from elsewhere) are left out."""
    import matplotlib.pyplot as plt

    from vadbench.leaderboard.plots import _save, _series_label

    by_set: dict[tuple, list] = {}
    for g in groups:
        histories = [h for h in (read_history(f) for f in filter(None, map(run_folder, g.records))) if h]
        if histories:
            by_set.setdefault((g.dataset, g.data_fingerprint or ""), []).append((g, histories))
    written = []
    for (dataset, fp), members in sorted(by_set.items()):
        several = len({f for d, f in by_set if d == dataset}) > 1
        tag = f"{dataset}_{fp.split(':')[-1][:6]}" if several else dataset
        name = f"{dataset} (test set {fp.split(':')[-1][:6]})" if several else dataset
        keys = sorted({k for _, hs in members for h in hs for k in h}, key=lambda k: (k != "train/loss", k))
        keys = keys[:MAX_PANELS]
        cols = min(3, len(keys))
        rows = math.ceil(len(keys) / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.6 * rows), squeeze=False, layout="constrained")
        colours = {id(g): plt.get_cmap("tab10")(i % 10) for i, (g, _) in enumerate(members)}
        handles = {}
        for ax, key in zip(axes.flat, keys):
            for g, histories in members:
                per_seed = [h[key] for h in histories if key in h]
                if not per_seed:
                    continue
                steps, mean, std = mean_band(per_seed)
                label = _series_label(g.model, g.setting, g.data_source) + f" ({len(per_seed)} seed" \
                    + ("s" if len(per_seed) > 1 else "") + ")"
                handles[label] = ax.plot(steps, mean, lw=1.5, color=colours[id(g)], label=label)[0]
                if len(per_seed) > 1:
                    ax.fill_between(steps, mean - std, mean + std, color=colours[id(g)], alpha=0.2, lw=0)
            ax.set(xlabel="training step", ylabel=key.split("/", 1)[1], title=key)
            ax.grid(alpha=0.3)
        for ax in list(axes.flat)[len(keys):]:
            ax.set_visible(False)
        # one legend for every panel, outside them all (a term only some models log keeps its colour)
        fig.legend(list(handles.values()), list(handles), loc="outside right upper", fontsize=8, frameon=False)
        fig.suptitle(f"{name}: training loss, mean over seeds ± 1 std")
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", tag)
        written.append(_save(fig, Path(out_dir) / f"loss_{safe}.png"))
    return written
