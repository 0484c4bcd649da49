"""STA-MIL on the real UCSD Ped2 frames, in the paper's weakly supervised protocol (slow).

Until `vadbench extract` produces I3D features for Ped2, this test computes a deterministic,
hand-made snippet feature from the real frames (`motion_grid_features`): every frame in grayscale,
cut into a 4 x 6 grid of cells; per 16-frame snippet and cell, the mean intensity, the mean and
the max over the snippet's frame pairs of the fraction of pixels whose absolute frame difference
exceeds 0.1 (moving pixels). D = 3 * 24 = 72, one crop, written as `<video>_i3d.npy [T, 1, 72]`.
It trains STA-MIL through the CLI on the pinned split (10 normal + 6 abnormal training videos),
tests on the other 12 against the official UCSDped2.m ground truth, and checks the AUC and the
score gap land in the result JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REAL, require
from vadbench.cli import main

PED2 = REAL / "yatoyun_test_ssctb/data/ped2"
UCSD_M = REAL / "aashimanigam_Video-Anomaly-Detection-System/UCSD_Anomaly_Dataset.v1p2/UCSDped2/Test/UCSDped2.m"
FRAMES_PER_SNIPPET = 16


def motion_grid_features(frames_dir: Path, grid: tuple[int, int] = (4, 6), threshold: float = 0.1) -> np.ndarray:
    """Frames `*.jpg` of one video -> `[T, 1, 3 * rows * cols]`, T = frames // 16 (remainder dropped)."""
    from PIL import Image

    files = sorted(frames_dir.glob("*.jpg"))
    t = len(files) // FRAMES_PER_SNIPPET
    if t == 0:
        raise ValueError(f"{frames_dir}: {len(files)} frames, fewer than one {FRAMES_PER_SNIPPET}-frame snippet")
    gray = np.stack([np.asarray(Image.open(f).convert("L"), dtype=np.float32) / 255
                     for f in files[: t * FRAMES_PER_SNIPPET]])
    _, h, w = gray.shape
    rows, cols = grid

    def cells(a: np.ndarray) -> np.ndarray:  # (F, H, W) -> (F, rows * cols) cell means
        a = a[:, : h // rows * rows, : w // cols * cols]
        return a.reshape(len(a), rows, h // rows, cols, w // cols).mean((2, 4)).reshape(len(a), -1)

    intensity = cells(gray).reshape(t, FRAMES_PER_SNIPPET, -1)
    moving = (np.abs(np.diff(gray, axis=0, append=gray[-1:])) > threshold).astype(np.float32)
    motion = cells(moving).reshape(t, FRAMES_PER_SNIPPET, -1)[:, : FRAMES_PER_SNIPPET - 1]  # pairs inside a snippet
    return np.concatenate([intensity.mean(1), motion.mean(1), motion.max(1)], axis=-1)[:, None].astype(np.float32)


@pytest.fixture(scope="module")
def ped2_features(tmp_path_factory) -> Path:
    require(PED2 / "training/frames/01")
    require(PED2 / "testing/frames/12")
    out = tmp_path_factory.mktemp("ped2_motion_grid")
    for split, prefix, count in (("training", "Train", 16), ("testing", "Test", 12)):
        for i in range(1, count + 1):
            np.save(out / f"{prefix}{i:03d}_i3d.npy", motion_grid_features(PED2 / split / "frames" / f"{i:02d}"))
    return out


@pytest.mark.slow
def test_motion_grid_features_are_deterministic_and_cover_the_annotation(ped2_features):
    a = np.load(ped2_features / "Test001_i3d.npy")
    assert a.shape == (180 // 16, 1, 72) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, motion_grid_features(PED2 / "testing/frames/01"))
    assert np.load(ped2_features / "Test009_i3d.npy").shape[0] == 120 // 16


@pytest.mark.slow
def test_sta_mil_trains_on_real_ped2_and_reports_auc_and_score_gap(ped2_features, tmp_path):
    require(UCSD_M)
    results = tmp_path / "results"
    code = main(["fit", "--config", "sta_mil/ucsd_ped2.yaml",
                 "--data.init_args.root", str(ped2_features), "--data.init_args.annotations", str(UCSD_M),
                 "--data.init_args.feature_dim=72",  # linked into the model
                 "--model.init_args.net.init_args.num_crops=1", "--model.init_args.net.init_args.chunk_size=0",
                 "--model.init_args.optimizer.init_args.lr=0.001",  # 1e-4 in the paper; 10x to train in 40 steps
                 "--trainer.max_steps=40", "--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false",
                 "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path / 'runs'}",
                 "--setting", "motion_grid_features", "--results_dir", str(results)])
    assert code == 0
    [path] = list(results.glob("*.json"))
    record = json.loads(path.read_text())
    assert record["model"] == "sta_mil" and record["dataset"] == "ucsd_ped2" and record["data_source"] == "real"
    m = record["metrics"]
    assert m["num_videos"] == 12  # 6 normal + 6 abnormal test videos of the pinned split
    for key in ("frame_auc_micro", "score_mean_negative", "score_mean_positive", "score_gap"):
        assert np.isfinite(m[key]), key
    print(f"STA-MIL on Ped2 (motion-grid features): AUC {m['frame_auc_micro']:.3f}, "
          f"negative {m['score_mean_negative']:.3f}, positive {m['score_mean_positive']:.3f}, gap {m['score_gap']:.3f}")
    assert m["frame_auc_micro"] > 0.5
    assert m["score_gap"] > 0
