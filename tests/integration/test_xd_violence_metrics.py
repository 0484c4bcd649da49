"""Issue #21's "done when": a fake XD-Violence root built from the official 800-video test list (random
per-video T, random scores) gives, through the datamodule and the metric objects, the AUC, AP, AUC_A,
AP_A and FAR of an independent scikit-learn computation from XD_Annotation.txt; the same for UCF-Crime
in Wu et al.'s per-crop layout (UR-DMU's UCF_Test.list and UCF_Annotation.txt, as they are).

The independent side re-derives the ground truth the official way, without vadbench's readers: XD from
Roc-Ng/XDVioDet's `list/make_gt.py` rule (the first annotation line containing the name, `gt[s:e] = 1` over
the video's frames, then the last frame and `(frames - 1) % 16` more dropped), UCF-Crime from the 1-based
inclusive reading of the annotation (frames s..e), cut to 16*T.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from tests.conftest import REFERENCE, require
from tests.helpers.xd_official import official_xd_gt
from vadbench.data.mil import MILFeatureDataModule
from vadbench.metrics.frame_level import FrameAnomalyMetrics

WU = REFERENCE / "henrryzh1_UR-DMU" / "list"


def _videos(list_path: Path) -> list[str]:
    out = []
    for line in list_path.read_text().splitlines():
        base = line.strip().replace("\\", "/").rsplit("/", 1)[-1]
        name = re.match(r"(.*)__\d+\.npy$", base).group(1)
        if not out or out[-1] != name:
            out.append(name)
    return out


def _write_crops(root: Path, name: str, t: int, crops: int, rng) -> None:
    for c in range(crops):
        np.save(root / f"{name}__{c}.npy", rng.random((t, 2), dtype=np.float32))


def _scores(rng, t: int) -> np.ndarray:
    """Random snippet scores rounded to 2 decimals: many ties, and scores exactly at the 0.5 threshold."""
    return np.round(rng.random(t), 2)


def _run_metrics(dm: MILFeatureDataModule, scores: dict[str, np.ndarray]) -> dict:
    """vadbench's side: the datamodule's test loader and FrameAnomalyMetrics, as the test step feeds them."""
    metric = FrameAnomalyMetrics(16)
    names = [v.name for v in dm.splits["test"]]
    for batch in dm.test_dataloader():
        s = torch.stack([torch.from_numpy(scores[names[i]]) for i in batch.video_index.tolist()])
        metric.update(s, batch.frame_labels, batch.mask, batch.video_index, batch.labels)
    return metric.compute()


def _independent(gts: list[np.ndarray], preds: list[np.ndarray], anomalous: list[bool]) -> dict:
    gt, pred = np.concatenate(gts), np.concatenate(preds)
    a = np.concatenate([np.full(len(g), v) for g, v in zip(gts, anomalous)])
    precision, recall, _ = precision_recall_curve(gt, pred)
    return {"frame_auc_micro": roc_auc_score(gt, pred), "frame_ap_micro": average_precision_score(gt, pred),
            "frame_pr_auc_micro": auc(recall, precision),
            "frame_auc_abnormal": roc_auc_score(gt[a], pred[a]), "frame_ap_abnormal": average_precision_score(gt[a], pred[a]),
            "frame_far_normal": float(np.mean(pred[~a] > 0.5)), "num_frames": len(gt)}


@pytest.mark.slow  # 800 videos x 5 crop files, ~1.6M frames: 10-15 s on a busy 2-core box
def test_fake_xd_violence_root_gives_the_independent_sklearn_metrics(tmp_path):
    test_list, annotation = require(WU / "XD_Test.list"), require(WU / "XD_Annotation.txt")
    lines = annotation.read_text().splitlines()
    last_frame = {l.split()[0]: max(int(x) for x in l.split()[2::2]) for l in lines if l.strip()}
    rng = np.random.default_rng(21)
    root = tmp_path / "xd"
    root.mkdir()
    names = _videos(test_list)
    assert len(names) == 800
    frames, scores, gts, preds = {}, {}, [], []
    for name in names:
        # a video length the annotation fits (XD annotations end up to one frame past the clip), or any
        lo = max(17, last_frame.get(name, 0) - 1)
        frames[name] = int(lo + rng.integers(0, 400)) if name in last_frame else int(rng.integers(17, 3000))
        t = (frames[name] - 1) // 16
        _write_crops(root, name, t, 5, rng)
        scores[name] = _scores(rng, t)
        gts.append(official_xd_gt(name, frames[name], lines))
        preds.append(np.repeat(scores[name], 16))
        assert len(gts[-1]) == 16 * t
    dm = MILFeatureDataModule(dataset="xd_violence", root=str(root), test_list=str(test_list),
                              annotations=str(annotation), feature_layout="per_crop", crops=5, feature_dim=2)
    dm.setup("test")
    assert [v.name for v in dm.splits["test"]] == names
    assert sum(v.label for v in dm.splits["test"]) == 500
    ours = _run_metrics(dm, scores)
    expected = _independent(gts, preds, ["_label_A" not in n for n in names])
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert ours["num_videos"] == 800


def test_fake_ucf_crime_per_crop_root_gives_the_independent_sklearn_metrics(tmp_path):
    test_list, annotation = require(WU / "UCF_Test.list"), require(WU / "UCF_Annotation.txt")
    intervals = {}
    for line in annotation.read_text().splitlines():
        f = line.split()
        name = f[0].rsplit("/", 1)[-1][:-4]
        intervals[name] = [(int(s), int(e)) for s, e in ((f[3], f[4]), (f[5], f[6])) if int(s) >= 0]
    rng = np.random.default_rng(10)
    root = tmp_path / "ucf"
    names = _videos(test_list)
    assert len(names) == 290
    scores, gts, preds = {}, [], []
    for name in names:
        sub = root / ("Testing_Normal_Videos_Anomaly" if name.startswith("Normal") else re.sub(r"\d+_x264$", "", name))
        sub.mkdir(parents=True, exist_ok=True)
        last = max((e for _, e in intervals.get(name, [])), default=0)
        t = max(1, math.ceil((last - 15) / 16)) + int(rng.integers(0, 60))
        _write_crops(sub, name, t, 10, rng)
        scores[name] = _scores(rng, t)
        gt = np.zeros(16 * t)
        for s, e in intervals.get(name, []):   # frames s..e, 1-based inclusive
            gt[s - 1:e] = 1
        gts.append(gt)
        preds.append(np.repeat(scores[name], 16))
    dm = MILFeatureDataModule(dataset="ucf_crime", root=str(root), test_list=str(test_list),
                              annotations=str(annotation), feature_layout="per_crop", crops=10, feature_dim=2)
    dm.setup("test")
    assert [v.name for v in dm.splits["test"]] == names
    ours = _run_metrics(dm, scores)
    expected = _independent(gts, preds, [not n.startswith("Normal") for n in names])
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
