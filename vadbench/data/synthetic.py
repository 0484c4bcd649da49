"""Synthetic datasets written in the real on-disk layouts, so every loader and metric runs on them.

MIL features (`write_synthetic_mil`) use the UCF-Crime layout: `train.list` / `test.list` whose
lines are absolute paths of another machine (as the official lists are), `<video>_i3d.npy` files of
shape `[T, crops, D]` under `features/{train,test}/`, and a
`Temporal_Anomaly_Annotation_for_Testing_Videos.txt` with 1-based frame intervals.

How anomalies look (deterministic by seed): every video has its own static background vector and
temporally correlated noise; anomalous videos hold one or two contiguous events, each a shift of
the features along its class's direction plus a magnitude increase. Every video holds decoy
events of the same size along other directions, so neither "large magnitude" nor "something
happens" alone gives the answer: a randomly initialised model scores near chance and a model must
learn which directions are anomalous.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ANOMALY_CLASSES = ("Abuse", "Arrest", "Assault", "Explosion", "Fighting", "Shooting")
FOREIGN_PREFIX = {"train": "/home/someone/UCF_Train_ten_crop_i3d/", "test": "G:\\UCF_Test_ten_crop_i3d\\"}


@dataclass
class SyntheticMILConfig:
    seed: int = 0
    feature_dim: int = 128
    crops: int = 4
    train_normal: int = 64
    train_abnormal: int = 64
    test_normal: int = 24
    test_abnormal: int = 24
    min_snippets: int = 40
    max_snippets: int = 120
    event_strength: float = 1.0      # norm of the event shift, in units of the per-snippet noise norm
    decoy_strength: float = 1.0
    magnitude_boost: float = 0.1     # anomalous snippets' extra magnitude (fraction of the feature)
    gain_jitter: float = 0.2         # std of the per-snippet log gain
    frames_per_snippet: int = 16
    version: int = 1

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def _unit(rng: np.random.Generator, d: int) -> np.ndarray:
    v = rng.standard_normal(d)
    return v / np.linalg.norm(v)


def _events(rng: np.random.Generator, t: int) -> list[tuple[int, int]]:
    """One or two disjoint snippet ranges [a, b) covering 10-35% of the video each."""
    n = 1 if rng.random() < 0.7 else 2
    out: list[tuple[int, int]] = []
    for part in range(n):
        lo, hi = part * t // n, (part + 1) * t // n
        length = max(2, int(rng.uniform(0.1, 0.35) * t / n * 1.5))
        length = min(length, hi - lo - 1)
        a = int(rng.integers(lo, hi - length))
        out.append((a, a + length))
    return out


def _video(rng, cfg: SyntheticMILConfig, t: int, events, direction, decoys, decoy_dirs) -> np.ndarray:
    d, c = cfg.feature_dim, cfg.crops
    background = rng.standard_normal(d) * rng.uniform(0.3, 1.5)  # scenes differ in overall magnitude
    noise = np.empty((t, d))
    noise[0] = rng.standard_normal(d)
    for i in range(1, t):  # AR(1) temporal correlation
        noise[i] = 0.7 * noise[i - 1] + np.sqrt(1 - 0.49) * rng.standard_normal(d)
    feat = background + noise
    scale = np.sqrt(d)
    for a, b in decoys:  # normal activity: same size as an anomaly, other directions
        feat[a:b] += cfg.decoy_strength * scale * decoy_dirs[int(rng.integers(len(decoy_dirs)))]
    for a, b in events:  # anomaly: its class direction, and a larger magnitude (RTFM's premise)
        feat[a:b] += cfg.event_strength * scale * direction + cfg.magnitude_boost * feat[a:b]
    feat *= np.exp(cfg.gain_jitter * rng.standard_normal((t, 1)))  # per-snippet gain (light, camera)
    crops = feat[:, None, :] + 0.3 * rng.standard_normal((t, c, d))
    return np.abs(crops).astype(np.float32)  # I3D features are post-ReLU averages: non-negative


def write_synthetic_mil(out_dir: str | Path, cfg: SyntheticMILConfig | None = None) -> Path:
    """Write the dataset to `out_dir` (atomically: a temp folder renamed at the end)."""
    cfg = cfg or SyntheticMILConfig()
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    rng = np.random.default_rng(cfg.seed)
    d = cfg.feature_dim
    class_dirs = {k: _unit(rng, d) for k in ANOMALY_CLASSES}
    decoy_dirs = [_unit(rng, d) for _ in range(6)]
    annotations = []
    for split in ("train", "test"):
        (tmp / "features" / split).mkdir(parents=True)
        lines = []
        n_abn, n_nor = (cfg.train_abnormal, cfg.train_normal) if split == "train" else (cfg.test_abnormal, cfg.test_normal)
        names = [(f"{ANOMALY_CLASSES[i % len(ANOMALY_CLASSES)]}{i // len(ANOMALY_CLASSES) + (1 if split == 'train' else 500):03d}_x264", 1)
                 for i in range(n_abn)]
        names += [(f"Normal_Videos_{i + (1 if split == 'train' else 900):03d}_x264", 0) for i in range(n_nor)]
        for name, label in names:
            t = int(rng.integers(cfg.min_snippets, cfg.max_snippets + 1))
            events = _events(rng, t)
            decoys = _events(rng, t)
            if label:
                cls = next(k for k in ANOMALY_CLASSES if name.startswith(k))
                feat = _video(rng, cfg, t, events, class_dirs[cls], decoys, decoy_dirs)
                fps = cfg.frames_per_snippet
                iv = [(a * fps + 1, b * fps) for a, b in events] + [(-1, -1)] * (2 - len(events))
                if split == "test":
                    annotations.append(f"{name}.mp4  {cls}  " + "  ".join(f"{s}  {e}" for s, e in iv))
            else:
                feat = _video(rng, cfg, t, [], None, decoys, decoy_dirs)
                if split == "test":
                    annotations.append(f"{name}.mp4  Normal  -1  -1  -1  -1")
            np.save(tmp / "features" / split / f"{name}_i3d.npy", feat)
            lines.append(FOREIGN_PREFIX[split] + f"{name}_i3d.npy")
        (tmp / f"{split}.list").write_text("\n".join(lines) + "\n")
    (tmp / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text("\n".join(annotations) + "\n")
    (tmp / "synthetic.json").write_text(json.dumps(asdict(cfg), indent=2, sort_keys=True) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def ensure_synthetic_mil(out_dir: str | Path, cfg: SyntheticMILConfig) -> Path:
    """Generate the dataset unless `out_dir` already holds one made with the same settings."""
    out_dir = Path(out_dir)
    marker = out_dir / "synthetic.json"
    if marker.is_file():
        existing = json.loads(marker.read_text())
        if existing == asdict(cfg):
            return out_dir
        raise FileExistsError(f"{out_dir} holds a synthetic dataset made with other settings ({existing}); "
                              f"choose another `root` or delete it")
    return write_synthetic_mil(out_dir, cfg)
