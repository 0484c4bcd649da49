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

Multi-scale patch features (`patch_grids`, e.g. `["patch23", "patch35", "patch47"]`; off by default,
and then nothing above changes): each video also gets `<video>_patch23_i3d.npy` files of shape
`[T, rows*cols, D]` (row-major cells of a rows x cols grid over the frame, one view per patch, as
SSRL's). Every event (anomaly or decoy) gets a spatial extent: one cell of one configured grid
(a small or medium event) or, with probability `frame_event_fraction`, the whole frame. A patch's
shift is the event's shift times the fraction of the patch the event covers, so an event is strong
in the patches of its own scale and diluted in coarser ones; the clip feature sees an anomaly only
(and a decoy) with weight area ** `clip_area_exponent` (0.5: a 4x7-cell event moves it by 1/sqrt(28)). A clip-only model
therefore misses the small anomalies that a patch model can find, and which scales a model uses
matters. Patch values come from their own random stream, so the clip files stay deterministic.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
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
    # Multi-scale patch features (off when empty; the fields below are then left out of to_dict()).
    patch_grids: list[str] = field(default_factory=list)  # e.g. ["patch23", "patch35", "patch47"]
    patch_event_strength: float = 1.0   # shift of a fully covered patch, in units of its noise norm
    frame_event_fraction: float = 0.2   # share of events that span the whole frame
    patch_noise: float = 1.0            # std of the per-patch noise
    clip_area_exponent: float = 0.5     # the clip sees an event of area a (frame = 1) with weight a ** this

    def to_dict(self) -> dict:
        """The settings; the patch fields only when patches are requested (older sets stay valid)."""
        out = asdict(self)
        if not self.patch_grids:
            for name in PATCH_FIELDS:
                out.pop(name)
        return out

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


PATCH_FIELDS = ("patch_grids", "patch_event_strength", "frame_event_fraction", "patch_noise", "clip_area_exponent")


def grid_shape(scale: str) -> tuple[int, int]:
    """`patch23` -> (2, 3): rows and columns of a patch grid named as SSRL's feature files are."""
    digits = scale.removeprefix("patch")
    if not (scale.startswith("patch") and len(digits) == 2 and digits.isdigit() and "0" not in digits):
        raise ValueError(f"patch scale {scale!r}: expected 'patch<rows><cols>' with one digit each, e.g. 'patch23'")
    return int(digits[0]), int(digits[1])


def _coverage(rect: tuple[float, float, float, float], rows: int, cols: int) -> np.ndarray:
    """Fraction of each cell (row-major, rows*cols) covered by rect = (y0, y1, x0, x1) in [0, 1]."""
    y0, y1, x0, x1 = rect
    ys, xs = np.arange(rows) / rows, np.arange(cols) / cols
    oy = np.clip(np.minimum(y1, ys + 1 / rows) - np.maximum(y0, ys), 0, None) * rows
    ox = np.clip(np.minimum(x1, xs + 1 / cols) - np.maximum(x0, xs), 0, None) * cols
    return (oy[:, None] * ox[None, :]).reshape(-1)


def _extent(rng: np.random.Generator, cfg: SyntheticMILConfig) -> tuple[float, float, float, float]:
    """An event's region: the whole frame, or one cell of one configured grid."""
    if rng.random() < cfg.frame_event_fraction:
        return 0.0, 1.0, 0.0, 1.0
    rows, cols = grid_shape(cfg.patch_grids[int(rng.integers(len(cfg.patch_grids)))])
    i, j = int(rng.integers(rows)), int(rng.integers(cols))
    return i / rows, (i + 1) / rows, j / cols, (j + 1) / cols


def _patch_videos(rng: np.random.Generator, cfg: SyntheticMILConfig, t: int, events, extents, direction,
                  decoys, decoy_extents, decoy_picks, decoy_dirs) -> dict[str, np.ndarray]:
    """Patch features of one video for every configured grid: scale -> [T, P, D] float32.

    The events and decoys are the clip's (same snippets, same directions), placed at their extents.
    """
    d = cfg.feature_dim
    scale = np.sqrt(d)
    background = rng.standard_normal(d) * rng.uniform(0.3, 1.5)
    out = {}
    for name in cfg.patch_grids:
        rows, cols = grid_shape(name)
        p = rows * cols
        cell_bg = background + 0.5 * rng.standard_normal((p, d))       # what each region shows
        noise = np.empty((t, p, d))
        noise[0] = rng.standard_normal((p, d))
        for i in range(1, t):  # AR(1) temporal correlation, all patches at once
            noise[i] = 0.7 * noise[i - 1] + np.sqrt(1 - 0.49) * rng.standard_normal((p, d))
        feat = cell_bg + cfg.patch_noise * noise
        for (a, b), rect, k in zip(decoys, decoy_extents, decoy_picks):  # the clip's decoys, localised
            feat[a:b] += cfg.decoy_strength * scale * _coverage(rect, rows, cols)[:, None] * decoy_dirs[k]
        for (a, b), rect in zip(events, extents):
            cover = _coverage(rect, rows, cols)[:, None]
            feat[a:b] += cfg.patch_event_strength * scale * cover * direction + cfg.magnitude_boost * cover * feat[a:b]
        feat *= np.exp(cfg.gain_jitter * rng.standard_normal((t, 1, 1)))
        out[name] = np.abs(feat).astype(np.float32)
    return out


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


def _video(rng, cfg: SyntheticMILConfig, t: int, events, direction, decoys, decoy_dirs,
           event_areas: list[float] | None = None, decoy_areas: list[float] | None = None,
           decoy_picks: list[int] | None = None) -> np.ndarray:
    d, c = cfg.feature_dim, cfg.crops
    background = rng.standard_normal(d) * rng.uniform(0.3, 1.5)  # scenes differ in overall magnitude
    noise = np.empty((t, d))
    noise[0] = rng.standard_normal(d)
    for i in range(1, t):  # AR(1) temporal correlation
        noise[i] = 0.7 * noise[i - 1] + np.sqrt(1 - 0.49) * rng.standard_normal(d)
    feat = background + noise
    scale = np.sqrt(d)
    for j, (a, b) in enumerate(decoys):  # normal activity: same size as an anomaly, other directions
        pick = int(rng.integers(len(decoy_dirs)))
        if decoy_areas is None:
            feat[a:b] += cfg.decoy_strength * scale * decoy_dirs[pick]
        else:  # with patches: decoys are local too, weighted by their area
            feat[a:b] += decoy_areas[j] * cfg.decoy_strength * scale * decoy_dirs[pick]
            decoy_picks.append(pick)
    if event_areas is None:
        for a, b in events:  # anomaly: its class direction, and a larger magnitude (RTFM's premise)
            feat[a:b] += cfg.event_strength * scale * direction + cfg.magnitude_boost * feat[a:b]
    else:  # with patches: the clip feature sees an anomaly weighted by its area
        for (a, b), area in zip(events, event_areas):
            feat[a:b] += area * (cfg.event_strength * scale * direction + cfg.magnitude_boost * feat[a:b])
    feat *= np.exp(cfg.gain_jitter * rng.standard_normal((t, 1)))  # per-snippet gain (light, camera)
    crops = feat[:, None, :] + 0.3 * rng.standard_normal((t, c, d))
    return np.abs(crops).astype(np.float32)  # I3D features are post-ReLU averages: non-negative


def write_synthetic_mil(out_dir: str | Path, cfg: SyntheticMILConfig | None = None) -> Path:
    """Write the dataset to `out_dir` (atomically: a temp folder renamed at the end)."""
    cfg = cfg or SyntheticMILConfig()
    for name in cfg.patch_grids:
        grid_shape(name)
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
        for video_number, (name, label) in enumerate(names):
            t = int(rng.integers(cfg.min_snippets, cfg.max_snippets + 1))
            events = _events(rng, t)
            decoys = _events(rng, t)
            # patch streams: one generator per video, independent of the clip stream above
            patch_rng = np.random.default_rng([cfg.seed, 1 if split == "train" else 2, video_number])
            areas = decoy_areas = decoy_picks = None
            if cfg.patch_grids:
                extents = [_extent(patch_rng, cfg) for _ in events]
                decoy_extents = [_extent(patch_rng, cfg) for _ in decoys]
                areas = [((r[1] - r[0]) * (r[3] - r[2])) ** cfg.clip_area_exponent for r in extents]
                decoy_areas = [((r[1] - r[0]) * (r[3] - r[2])) ** cfg.clip_area_exponent for r in decoy_extents]
                decoy_picks = []
            if label:
                cls = next(k for k in ANOMALY_CLASSES if name.startswith(k))
                feat = _video(rng, cfg, t, events, class_dirs[cls], decoys, decoy_dirs, areas, decoy_areas, decoy_picks)
                if cfg.patch_grids:
                    patches = _patch_videos(patch_rng, cfg, t, events, extents, class_dirs[cls], decoys,
                                            decoy_extents, decoy_picks, decoy_dirs)
                fps = cfg.frames_per_snippet
                iv = [(a * fps + 1, b * fps) for a, b in events] + [(-1, -1)] * (2 - len(events))
                if split == "test":
                    annotations.append(f"{name}.mp4  {cls}  " + "  ".join(f"{s}  {e}" for s, e in iv))
            else:
                feat = _video(rng, cfg, t, [], None, decoys, decoy_dirs, areas, decoy_areas, decoy_picks)
                if cfg.patch_grids:
                    patches = _patch_videos(patch_rng, cfg, t, [], [], None, decoys, decoy_extents, decoy_picks,
                                            decoy_dirs)
                if split == "test":
                    annotations.append(f"{name}.mp4  Normal  -1  -1  -1  -1")
            np.save(tmp / "features" / split / f"{name}_i3d.npy", feat)
            for scale_name in cfg.patch_grids:
                np.save(tmp / "features" / split / f"{name}_{scale_name}_i3d.npy", patches[scale_name])
            lines.append(FOREIGN_PREFIX[split] + f"{name}_i3d.npy")
        (tmp / f"{split}.list").write_text("\n".join(lines) + "\n")
    (tmp / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt").write_text("\n".join(annotations) + "\n")
    (tmp / "synthetic.json").write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
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
        if existing == cfg.to_dict():
            return out_dir
        raise FileExistsError(f"{out_dir} holds a synthetic dataset made with other settings ({existing}); "
                              f"choose another `root` or delete it")
    return write_synthetic_mil(out_dir, cfg)
