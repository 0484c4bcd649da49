"""Plots written as PNG (matplotlib, Agg backend): ROC/PR curves, score timelines, accuracy vs shots.

- `plot_roc_pr`: frame-level ROC and precision-recall curves of several models on one dataset.
- `plot_timeline`: one video's anomaly scores over frames, several models overlaid, ground-truth
  anomalies shaded pink (the style of SSRL Fig. 7 / MSIP's visual results).
- `plot_shots`: few-shot accuracy against the number of shots, one line per model, with the
  papers' numbers as dashed lines.
The PNGs carry no timestamp or software tag, so the same inputs give the same bytes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vadbench.leaderboard.scores import ScoreFile, VideoScores, load_scores, scores_path_for  # noqa: E402

PNG_METADATA = {"Software": None}
SHOTS_RE = re.compile(r"^(\d+)w(\d+)s$")


def _save(fig, out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # "tight": the legends sit outside the axes (never on the data) and must stay in the picture
    fig.savefig(out, format="png", dpi=100, metadata=PNG_METADATA, bbox_inches="tight")
    plt.close(fig)
    return out


def _legend_outside(ax, where: str = "right", fontsize: int = 8) -> None:
    """The legend beside the axes (right) or under them (below), never over the curves."""
    if where == "right":
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, fontsize=fontsize, frameon=False)
    else:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), borderaxespad=0, fontsize=fontsize, frameon=False)


def roc_pr_figure(test_sets: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]], title: str = ""):
    """ROC (left) and PR (right) curves, one row per test set (`test_sets[name][label] = (frame_scores,
    frame_labels)`): curves of different test sets never share axes. AUC and AP are in percent; the PR
    panel draws the chance level (the fraction of anomalous frames, the AP of a random score)."""
    from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

    if not test_sets or not all(test_sets.values()):
        raise ValueError("plot_roc_pr: no curves to draw")
    fig, axes = plt.subplots(len(test_sets), 2, figsize=(11, 5.2 * len(test_sets)), squeeze=False,
                             layout="constrained")
    for (name, curves), (ax_roc, ax_pr) in zip(test_sets.items(), axes):
        rates = set()
        for label in sorted(curves):
            scores, labels = (np.asarray(x) for x in curves[label])
            if labels.min(initial=0) == labels.max(initial=0):
                raise ValueError(f"plot_roc_pr: {label!r} has frames of a single class; ROC needs both")
            fpr, tpr, _ = roc_curve(labels, scores)
            prec, rec, _ = precision_recall_curve(labels, scores)
            ax_roc.plot(fpr, tpr, lw=1.6, label=f"{label} (AUC {100 * auc(fpr, tpr):.2f}%)")
            ax_pr.plot(rec, prec, lw=1.6, label=f"{label} (AP {100 * average_precision_score(labels, scores):.2f}%)")
            rates.add(round(float(labels.mean()), 6))
        ax_roc.plot([0, 1], [0, 1], ls=":", c="grey", lw=1, label="chance (AUC 50%)")
        for rate in sorted(rates):
            ax_pr.axhline(rate, ls=":", c="grey", lw=1, label=f"chance (AP {100 * rate:.2f}% = anomalous frames)")
        suffix = f": {name}" if name else ""
        ax_roc.set(xlabel="false positive rate", ylabel="true positive rate", title=f"ROC (frame level){suffix}",
                   xlim=(0, 1), ylim=(0, 1.01))
        ax_pr.set(xlabel="recall", ylabel="precision", title=f"precision-recall (frame level){suffix}",
                  xlim=(0, 1), ylim=(0, 1.01))
        for ax in (ax_roc, ax_pr):
            ax.grid(alpha=0.3)
            _legend_outside(ax, "below")
    if title:
        fig.suptitle(title)
    return fig


def plot_roc_pr(curves: Mapping[str, tuple[np.ndarray, np.ndarray]] | Mapping[str, Mapping], out: str | Path,
                title: str = "") -> Path:
    """ROC and PR curves of several models on one test set (`curves[label] = (frame_scores, frame_labels)`),
    or on several test sets, one row each (`curves[test set][label] = ...`)."""
    if not curves:
        raise ValueError(f"plot_roc_pr({out}): no curves to draw")
    several = all(isinstance(v, Mapping) for v in curves.values())
    return _save(roc_pr_figure(curves if several else {"": curves}, title), out)


def _spans(labels: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) runs of label 1."""
    padded = np.concatenate([[0], (labels > 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def timeline_figure(series: Mapping[str, VideoScores], title: str = ""):
    """The figure of `plot_timeline`: one panel per distinct ground truth, each model against its own.

    Models scored on the same frames share a panel with its ground truth shaded pink (named in the
    legend); a model whose video has other labels or another length (another test set) gets its own
    panel, drawn over its own frames.
    """
    panels: list[tuple[np.ndarray, list[str]]] = []
    for label in sorted(series):
        labels = np.asarray(series[label].frame_labels)
        for gt, members in panels:
            if gt.shape == labels.shape and np.array_equal(gt, labels):
                members.append(label)
                break
        else:
            panels.append((labels, [label]))
    colours = {label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(sorted(series))}
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 3.2 * len(panels)), squeeze=False, layout="constrained")
    for ax, (gt, members) in zip(axes[:, 0], panels):
        for j, (start, end) in enumerate(_spans(gt)):
            ax.axvspan(start, end, color="#f4a6c0", alpha=0.6, lw=0, label="ground truth (anomalous frames)" if j == 0 else None)
        for label in members:
            v = series[label]
            ax.plot(np.arange(len(v.frame_labels)), v.frame_scores, lw=1.6, color=colours[label], label=label)
        ax.set(xlim=(0, max(len(gt), 1)), ylim=(-0.02, 1.02), xlabel="frame", ylabel="anomaly score")
        if len(panels) > 1:
            ax.set_title(f"ground truth of {', '.join(members)} ({len(gt)} frames)", fontsize=9)
        ax.grid(alpha=0.3)
        _legend_outside(ax, "right")
    first = series[sorted(series)[0]]
    fig.suptitle(title or first.name)
    return fig


def plot_timeline(series: Mapping[str, VideoScores], out: str | Path, title: str = "") -> Path:
    """One video: per-frame anomaly score of each model; ground-truth anomalies shaded pink (each
    model drawn against its own ground truth, see `timeline_figure`)."""
    if not series:
        raise ValueError(f"plot_timeline({out}): no score series to draw")
    return _save(timeline_figure(series, title), out)


def parse_shots(setting: str) -> tuple[int, int] | None:
    """"5w1s" -> (5, 1); anything else (ablations "5w1s,modules=kps") -> None."""
    m = SHOTS_RE.match(setting)
    return (int(m.group(1)), int(m.group(2))) if m else None


def plot_shots(points: Sequence[dict], out: str | Path, title: str = "") -> Path:
    """Accuracy (%) vs shots. Each point: {label, model, dataset, shots, value, err (opt.), paper (bool)}.

    One panel per dataset with our results; our runs solid with error bars, papers' numbers dashed in
    the same colour per model.
    """
    if not points:
        raise ValueError(f"plot_shots({out}): no points to draw")
    return _save(shots_figure(points, title), out)


def shots_figure(points: Sequence[dict], title: str = ""):
    """The figure of `plot_shots`."""
    datasets = sorted({p["dataset"] for p in points if not p.get("paper")}) or sorted({p["dataset"] for p in points})
    models = sorted({p.get("model", p["label"]) for p in points})
    colour = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(models)}
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 4), squeeze=False, layout="constrained")
    for ax, ds in zip(axes[0], datasets):
        series: dict[tuple[str, bool], list[dict]] = {}
        for p in points:
            if p["dataset"] == ds:
                series.setdefault((p["label"], bool(p.get("paper"))), []).append(p)
        for (label, is_paper), pts in sorted(series.items(), key=lambda kv: (kv[0][0], not kv[0][1])):
            pts = sorted(pts, key=lambda p: p["shots"])
            x = [p["shots"] for p in pts]
            y = [p["value"] for p in pts]
            c = colour[pts[0].get("model", label)]
            if is_paper:
                ax.plot(x, y, ls="--", marker="o", mfc="none", lw=1.2, color=c, label=f"{label} (paper)")
            else:
                ax.errorbar(x, y, yerr=[p.get("err") or 0.0 for p in pts], marker="s", lw=1.8, capsize=3, color=c,
                            label=f"{label} (ours)")
        shots = sorted({p["shots"] for p in points if p["dataset"] == ds})
        ax.set(xlabel="shots per class", ylabel="accuracy (%)", title=ds, xticks=shots)
        ax.grid(alpha=0.3)
        _legend_outside(ax, "below", fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------- from result files
def score_files_by_group(records: Sequence[dict]) -> dict[tuple, ScoreFile]:
    """(dataset, model, setting, data_source, data fingerprint) -> the scores file of its lowest seed
    that has one (different test sets of one dataset name stay apart)."""
    found: dict[tuple, tuple] = {}
    for rec in records:
        path = rec.get("_path")
        if not path:
            continue
        sp = scores_path_for(path)
        if not sp.is_file():
            continue
        key = (rec.get("dataset"), rec.get("model"), rec.get("setting", "default"), rec.get("data_source"),
               rec.get("data_fingerprint") or "")
        rank = (rec.get("seed") if isinstance(rec.get("seed"), int) else 10**9, str(sp))
        if key not in found or rank < found[key][0]:
            found[key] = (rank, sp)
    return {k: load_scores(v[1]) for k, v in sorted(found.items(), key=lambda kv: tuple(map(str, kv[0])))}


def _series_label(model: str, setting: str, data_source: str) -> str:
    label = model if setting == "default" else f"{model} [{setting}]"
    return label + (" (synthetic)" if data_source == "synthetic" else "")


def leaderboard_plots(records: Sequence[dict], meta, groups, out_dir: str | Path, timelines: int = 2) -> list[Path]:
    """All plots the data allows: ROC/PR and timelines per test set (dataset x data fingerprint) with
    score files, shots per few-shot dataset."""
    out_dir = Path(out_dir)
    written: list[Path] = []
    files = score_files_by_group(records)
    test_sets = sorted({(k[0], k[4]) for k in files})
    for dataset, fp in test_sets:
        several = len({f for d, f in test_sets if d == dataset}) > 1
        tag = f"{dataset}_{fp.split(':')[-1][:6]}" if several else dataset
        name = f"{dataset} (test set {fp.split(':')[-1][:6]})" if several else dataset
        mine = {k: sf for k, sf in files.items() if (k[0], k[4]) == (dataset, fp)}
        curves = {_series_label(k[1], k[2], k[3]): sf.frames() for k, sf in mine.items()}
        written.append(plot_roc_pr(curves, out_dir / f"roc_pr_{tag}.png", title=f"{name}: frame-level curves"))
        ref = next(iter(mine.values()))
        anomalous = [v.name for v in ref.videos if v.frame_labels.any()]
        normal = [v.name for v in ref.videos if not v.frame_labels.any()]
        for video in (anomalous[:timelines] + normal[:1]):
            series = {}
            for k, sf in mine.items():
                try:
                    series[_series_label(k[1], k[2], k[3])] = sf.video(video)
                except KeyError:
                    continue
            safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(video).stem)
            written.append(plot_timeline(series, out_dir / f"timeline_{tag}_{safe}.png",
                                         title=f"{name}: anomaly score over video {Path(video).stem}"))
    points = shots_points(meta, groups)
    if points:
        written.append(plot_shots(points, out_dir / "shots.png", title="few-shot accuracy vs shots"))
    return written


def shots_points(meta, groups) -> list[dict]:
    """Points for `plot_shots` from our groups (settings "<W>w<K>s") and the metafile's numbers for those models."""
    points = []
    models = set()
    for g in groups:
        ws = parse_shots(g.setting)
        stats = g.mean_std("accuracy")
        if ws is None or stats is None:
            continue
        models.add(g.model)
        err = stats[1] if stats[2] > 1 else (g.mean_std("accuracy_ci95") or (0.0,))[0]
        points.append({"label": _series_label(g.model, "default", g.data_source), "model": g.model, "dataset": g.dataset,
                       "shots": ws[1], "value": 100 * stats[0], "err": 100 * err})
    seen = set()
    for e in meta.entries:
        ws = parse_shots(e.setting)
        if e.metric != "accuracy" or ws is None or e.model not in models:
            continue
        best = meta.best(e.model, e.setting, e.dataset, "accuracy")
        key = (e.model, e.dataset, e.setting)
        if best is e and key not in seen:
            seen.add(key)
            points.append({"label": e.model, "model": e.model, "dataset": e.dataset, "shots": ws[1], "value": e.value,
                           "paper": True})
    return points
