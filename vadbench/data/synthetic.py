"""Synthetic datasets written in the real on-disk layouts, so every loader and metric runs on them.

MIL features (`write_synthetic_mil`) use a real dataset's layout (`SyntheticMILConfig.layout`):
- `ucf_crime` (default): `train.list` / `test.list` whose lines are absolute paths of another
  machine (as the official lists are), `<video>_i3d.npy` files of shape `[T, crops, D]` under
  `features/{train,test}/`, and a `Temporal_Anomaly_Annotation_for_Testing_Videos.txt` with 1-based
  frame intervals.
- `ucf_crime_per_crop`: Wu et al.'s per-crop UCF-Crime files, `features/{split}/<Class>/<video>__<c>.npy`
  (`[T, D]` each), lists naming one crop file per line (`dataset/<Class>/<video>__<c>.npy`, as
  UR-DMU's `UCF_Train.list`), and `UCF_Annotation.txt` (`<Class>/<video>.mp4 <frames> <class> s1 e1 s2 e2`).
- `xd_violence`: XD-Violence names (`<movie>__#<from>_<to>_label_<codes>`, `_label_A` = normal),
  per-crop files `features/{RGB,RGBTest}/<video>__<c>.npy`, lists of Windows paths
  (`E:/.../RGBTest/<video>__<c>.npy`, as UR-DMU's `XD_Test.list`) and `XD_Annotation.txt` with
  0-based, end-exclusive frame intervals (`<video> s1 e1 ...`, violent videos only).
The features of one video are the same numbers in every layout (the per-crop files are its crop columns).

How anomalies look (deterministic by seed): every video has its own static background vector and
temporally correlated noise; anomalous videos hold one or two contiguous events, each a shift of
the features along its class's direction plus a magnitude increase. Every video holds decoy
events of the same size along other directions, so neither "large magnitude" nor "something
happens" alone gives the answer: a randomly initialised model scores near chance and a model must
learn which directions are anomalous.

Multi-scale patch features (`patch_grids`, e.g. `["patch23", "patch35", "patch47"]`; off by default,
and then nothing above changes, byte for byte): each video also gets `<video>_patch23_i3d.npy` files
of shape `[T, rows*cols, D]` (row-major cells of a rows x cols grid over the frame, one view per
patch, as SSRL's), and its clip file becomes the pooled view of the same scene. The scene lives on
the finest configured grid: per cell a static background (the video's plus a local offset) and
temporally correlated noise, plus a frame-wide noise shared by every cell (camera, light). A view
(a patch of any grid, or the whole frame for the clip) sees the area-weighted mean of the fine cells
it overlaps, plus every event in proportion to the share of the view the event covers. Events
(anomalies and the normal videos' decoys alike, same sizes, other directions) are small (1-2
adjacent cells of the finest grid), medium (1-2 adjacent cells of a coarser grid) or, with
probability `frame_event_fraction`, span the whole frame. So a small anomaly is strong in its fine
patch, diluted in the coarser patch around it, and nearly invisible in the clip (1/28 of a 4x7
frame), while a frame-spanning one moves the clip fully: a clip-only model learns the anomalies'
directions from the large events and misses most small ones, which a patch model can find. Patch
videos use their own random stream; a video's event timing is the clip stream's.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vadbench.data.patch_grids import grid_shape  # the one parser (models import it from here too)

ANOMALY_CLASSES = ("Abuse", "Arrest", "Assault", "Explosion", "Fighting", "Shooting")
FOREIGN_PREFIX = {"train": "/home/someone/UCF_Train_ten_crop_i3d/", "test": "G:\\UCF_Test_ten_crop_i3d\\"}
XD_PREFIX = {"train": "E:/DLCode/datasets/ECCV2020XD-Violence/i3d-features/RGB/",
             "test": "E:/DLCode/datasets/ECCV2020XD-Violence/i3d-features/RGBTest/"}
XD_CODES = ("B1", "B2", "B4", "B5", "B6", "G")   # XD-Violence's violence classes (label codes)
LAYOUTS = ("ucf_crime", "ucf_crime_per_crop", "xd_violence")
PER_CROP_LAYOUTS = ("ucf_crime_per_crop", "xd_violence")
# `vadbench synth mil --layout ...` defaults: the real files' crops and dim (what the packaged data parts
# expect: data/xd_violence.yaml, data/ucf_crime_i3d1024.yaml), at laptop sizes.
LAYOUT_DEFAULTS = {
    "ucf_crime": {},
    "ucf_crime_per_crop": {"feature_dim": 1024, "crops": 10, "train_normal": 16, "train_abnormal": 16,
                           "test_normal": 8, "test_abnormal": 8, "min_snippets": 24, "max_snippets": 64},
    "xd_violence": {"feature_dim": 1024, "crops": 5, "train_normal": 20, "train_abnormal": 20,
                    "test_normal": 10, "test_abnormal": 10, "min_snippets": 24, "max_snippets": 64},
}


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
    patch_event_strength: float = 5.0   # shift of a fully covered view, in units of the noise norm (sqrt(D))
    frame_event_fraction: float = 0.05  # share of events that span the whole frame
    medium_event_fraction: float = 0.2  # share of events in 1-2 cells of a coarser grid (rest: finest grid)
    patch_noise: float = 1.0            # std of each fine cell's own noise
    shared_noise: float = 0.5           # std of the frame-wide noise every cell shares
    view_noise: float = 0.3             # std of each view's own noise (a patch, or a clip crop)
    layout: str = "ucf_crime"           # on-disk layout: ucf_crime, ucf_crime_per_crop, xd_violence

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise ValueError(f"synthetic MIL layout {self.layout!r}: expected one of {list(LAYOUTS)}")
        if self.layout in PER_CROP_LAYOUTS and self.patch_grids:
            raise ValueError(f"synthetic MIL layout {self.layout}: patch grids are written in the ucf_crime layout only")

    def to_dict(self) -> dict:
        """The settings; the patch fields only when patches are requested and the layout only when it
        is not the default (older sets stay valid)."""
        out = asdict(self)
        if not self.patch_grids:
            for name in PATCH_FIELDS:
                out.pop(name)
        if self.layout == "ucf_crime":
            out.pop("layout")
        return out

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


PATCH_FIELDS = ("patch_grids", "patch_event_strength", "frame_event_fraction", "medium_event_fraction",
                "patch_noise", "shared_noise", "view_noise")


def _coverage(rect: tuple[float, float, float, float], rows: int, cols: int) -> np.ndarray:
    """Fraction of each cell (row-major, rows*cols) covered by rect = (y0, y1, x0, x1) in [0, 1]."""
    y0, y1, x0, x1 = rect
    ys, xs = np.arange(rows) / rows, np.arange(cols) / cols
    oy = np.clip(np.minimum(y1, ys + 1 / rows) - np.maximum(y0, ys), 0, None) * rows
    ox = np.clip(np.minimum(x1, xs + 1 / cols) - np.maximum(x0, xs), 0, None) * cols
    return (oy[:, None] * ox[None, :]).reshape(-1)


Rect = tuple[float, float, float, float]  # (y0, y1, x0, x1) in [0, 1]


def _finest(grids: list[str]) -> tuple[int, int]:
    return max((grid_shape(g) for g in grids), key=lambda rc: rc[0] * rc[1])


def _cells(rng: np.random.Generator, rows: int, cols: int) -> Rect:
    """One cell of a rows x cols grid, or two adjacent ones (half the time, where the grid allows)."""
    i, j = int(rng.integers(rows)), int(rng.integers(cols))
    h, w = 1, 1
    if rng.random() < 0.5:
        if rng.random() < 0.5 and cols > 1:
            j, w = min(j, cols - 2), 2
        elif rows > 1:
            i, h = min(i, rows - 2), 2
    return i / rows, (i + h) / rows, j / cols, (j + w) / cols


def _extent(rng: np.random.Generator, cfg: SyntheticMILConfig) -> Rect:
    """An event's region: the whole frame, 1-2 cells of a coarser grid, or 1-2 cells of the finest grid."""
    u = rng.random()
    if u < cfg.frame_event_fraction:
        return 0.0, 1.0, 0.0, 1.0
    fine = _finest(cfg.patch_grids)
    coarser = [grid_shape(g) for g in cfg.patch_grids if grid_shape(g)[0] * grid_shape(g)[1] < fine[0] * fine[1]]
    if u < cfg.frame_event_fraction + cfg.medium_event_fraction and coarser:
        return _cells(rng, *coarser[int(rng.integers(len(coarser)))])
    return _cells(rng, *fine)


def _area(rect: Rect) -> float:
    return (rect[1] - rect[0]) * (rect[3] - rect[2])


def _pooling(rows: int, cols: int, fine: tuple[int, int]) -> np.ndarray:
    """(rows*cols, P_fine): how much of each view cell each fine cell fills (rows sum to 1)."""
    fr, fc = fine
    return np.stack([_coverage((i / fr, (i + 1) / fr, j / fc, (j + 1) / fc), rows, cols)
                     for i in range(fr) for j in range(fc)], axis=1)


def _ar1(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit-variance AR(1) noise along the first axis (snippets), coefficient 0.7."""
    out = np.empty(shape)
    out[0] = rng.standard_normal(shape[1:])
    for i in range(1, shape[0]):
        out[i] = 0.7 * out[i - 1] + np.sqrt(1 - 0.49) * rng.standard_normal(shape[1:])
    return out


def _scene_views(rng: np.random.Generator, cfg: SyntheticMILConfig, t: int, events: list[tuple[int, int]],
                 extents: list[Rect], direction, decoys: list[tuple[int, int]], decoy_extents: list[Rect],
                 decoy_dirs: list[np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One video seen whole (clip crops, [T, crops, D]) and through every configured grid ([T, P, D]).

    Background and noise are pooled from the finest grid's cells; events (anomalies along
    `direction`, decoys along a random decoy direction) enter each view by the share they cover.
    """
    d = cfg.feature_dim
    scale = np.sqrt(d)
    fine = _finest(cfg.patch_grids)
    p_fine = fine[0] * fine[1]
    background = rng.standard_normal(d) * rng.uniform(0.3, 1.5)          # scenes differ in overall magnitude
    cells = background + 0.5 * rng.standard_normal((p_fine, d))          # what each region shows
    scene = cells + cfg.patch_noise * _ar1(rng, (t, p_fine, d))          # (T, P_fine, D)
    shared = cfg.shared_noise * _ar1(rng, (t, d))                        # frame-wide: camera, light
    gain = np.exp(cfg.gain_jitter * rng.standard_normal(t))              # per-snippet gain, all views
    picks = [int(rng.integers(len(decoy_dirs))) for _ in decoys]
    strength = cfg.patch_event_strength                                  # decoys: same size and strength
    shifts = ([(a, b, r, cfg.decoy_strength * strength * decoy_dirs[k], 0.0) for (a, b), r, k in zip(decoys, decoy_extents, picks)]
              + [(a, b, r, strength * direction, cfg.magnitude_boost) for (a, b), r in zip(events, extents)])

    def view(pool: np.ndarray, cover: list[np.ndarray], n_views: int) -> np.ndarray:
        """pool (V, P_fine) -> [T, n_views, D]: pooled scene + covered events, gain, own noise, rectified."""
        feat = np.einsum("vp,tpd->tvd", pool, scene) + shared[:, None, :]
        for (a, b, _, shift, boost), c in zip(shifts, cover):           # what each view holds of each event
            feat[a:b] += c[:, None] * (scale * shift + boost * feat[a:b])
        feat = np.broadcast_to(feat * gain[:, None, None], (t, n_views, d))
        return np.abs(feat + cfg.view_noise * rng.standard_normal((t, n_views, d))).astype(np.float32)

    patches = {}
    for name in cfg.patch_grids:
        rows, cols = grid_shape(name)
        patches[name] = view(_pooling(rows, cols, fine), [_coverage(s[2], rows, cols) for s in shifts], rows * cols)
    whole = np.full((1, p_fine), 1.0 / p_fine)                           # the clip: the whole frame pooled
    crops = view(whole, [np.array([_area(s[2])]) for s in shifts], cfg.crops)   # crops: same view, own noise
    return crops, patches


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


def _xd_name(split: str, i: int, label: int) -> str:
    """An XD-Violence-style name: `<movie>__#<from>_<to>_label_<codes>`; normal videos `_label_A`."""
    code = "A" if not label else f"{XD_CODES[i % len(XD_CODES)]}-0-0"
    year = 1990 + i % 30
    return f"Synthetic.Movie.{split.title()}{i:03d}.{year}__#00-{i % 60:02d}-00_00-{i % 60:02d}-59_label_{code}"


def _names(cfg: SyntheticMILConfig, split: str) -> list[tuple[str, int, str | None]]:
    """(video, label, anomaly class or None) of a split: anomalous videos first."""
    n_abn, n_nor = (cfg.train_abnormal, cfg.train_normal) if split == "train" else (cfg.test_abnormal, cfg.test_normal)
    if cfg.layout == "xd_violence":
        return ([(_xd_name(split, i, 1), 1, XD_CODES[i % len(XD_CODES)]) for i in range(n_abn)]
                + [(_xd_name(split, n_abn + i, 0), 0, None) for i in range(n_nor)])
    offset = 1 if split == "train" else 500
    out = [(f"{ANOMALY_CLASSES[i % len(ANOMALY_CLASSES)]}{i // len(ANOMALY_CLASSES) + offset:03d}_x264", 1,
            ANOMALY_CLASSES[i % len(ANOMALY_CLASSES)]) for i in range(n_abn)]
    return out + [(f"Normal_Videos_{i + (1 if split == 'train' else 900):03d}_x264", 0, None) for i in range(n_nor)]


def _ucf_folder(split: str, cls: str | None) -> str:
    """Wu et al.'s UCF-Crime class folders (`Abuse/`, `Training_Normal_Videos_Anomaly/`, ...)."""
    if cls is not None:
        return cls
    return "Training_Normal_Videos_Anomaly" if split == "train" else "Testing_Normal_Videos_Anomaly"


def _annotation_line(cfg: SyntheticMILConfig, name: str, cls: str | None, t: int, events) -> str | None:
    """The test annotation line of a video in the layout's format (None: the format lists no normal video)."""
    fps = cfg.frames_per_snippet
    if cfg.layout == "xd_violence":   # [s, e) 0-based frame indices, violent videos only
        return f"{name} " + " ".join(f"{a * fps} {b * fps}" for a, b in events) if cls else None
    iv = [(a * fps + 1, b * fps) for a, b in events] + [(-1, -1)] * (2 - len(events)) if cls else [(-1, -1)] * 2
    pairs = "  ".join(f"{s}  {e}" for s, e in iv)
    if cfg.layout == "ucf_crime_per_crop":   # Wu et al.: <Class>/<name>.mp4 <frames> <class> s1 e1 s2 e2
        return f"{_ucf_folder('test', cls)}/{name}.mp4  {t * fps}  {cls or 'Normal'}  {pairs}"
    return f"{name}.mp4  {cls or 'Normal'}  {pairs}"


ANNOTATION_FILES = {"ucf_crime": "Temporal_Anomaly_Annotation_for_Testing_Videos.txt",
                    "ucf_crime_per_crop": "UCF_Annotation.txt", "xd_violence": "XD_Annotation.txt"}


def annotation_format(root: Path, cfg: SyntheticMILConfig) -> str:
    """The ground-truth format of a synthetic set (the layout recorded in `<root>/synthetic.json`, else `cfg`'s)."""
    marker = Path(root) / "synthetic.json"
    layout = cfg.layout
    if marker.is_file():
        layout = json.loads(marker.read_text()).get("layout", "ucf_crime")
    return "xd_annotation" if layout == "xd_violence" else "ucf_temporal_txt"


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
        for video_number, (name, label, cls) in enumerate(_names(cfg, split)):
            t = int(rng.integers(cfg.min_snippets, cfg.max_snippets + 1))
            events = _events(rng, t)
            decoys = _events(rng, t)
            direction = class_dirs[ANOMALY_CLASSES[video_number % len(ANOMALY_CLASSES)]] if label else None
            if cfg.patch_grids:  # one generator per video, independent of the clip stream
                patch_rng = np.random.default_rng([cfg.seed, 1 if split == "train" else 2, video_number])
                extents = [_extent(patch_rng, cfg) for _ in events] if label else []
                decoy_extents = [_extent(patch_rng, cfg) for _ in decoys]
                feat, patches = _scene_views(patch_rng, cfg, t, events if label else [], extents,
                                             direction, decoys, decoy_extents, decoy_dirs)
            elif label:
                feat = _video(rng, cfg, t, events, direction, decoys, decoy_dirs)
            else:
                feat = _video(rng, cfg, t, [], None, decoys, decoy_dirs)
            if split == "test":
                line = _annotation_line(cfg, name, cls, t, events)
                if line is not None:
                    annotations.append(line)
            lines += _write_video(tmp, cfg, split, name, cls, feat, patches if cfg.patch_grids else {})
        (tmp / f"{split}.list").write_text("\n".join(lines) + "\n")
    (tmp / ANNOTATION_FILES[cfg.layout]).write_text("\n".join(annotations) + "\n")
    (tmp / "synthetic.json").write_text(json.dumps(cfg.to_dict(), indent=2, sort_keys=True) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    return out_dir


def _write_video(tmp: Path, cfg: SyntheticMILConfig, split: str, name: str, cls: str | None, feat: np.ndarray,
                 patches: dict[str, np.ndarray]) -> list[str]:
    """Save one video's `[T, crops, D]` features in the layout; returns its list lines."""
    folder = tmp / "features" / split
    if cfg.layout == "ucf_crime":
        np.save(folder / f"{name}_i3d.npy", feat)
        for scale_name, patch in patches.items():
            np.save(folder / f"{name}_{scale_name}_i3d.npy", patch)
        return [FOREIGN_PREFIX[split] + f"{name}_i3d.npy"]
    if cfg.layout == "xd_violence":
        prefix = XD_PREFIX[split]
    else:
        folder = folder / _ucf_folder(split, cls)
        prefix = f"dataset/{_ucf_folder(split, cls)}/"
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for c in range(feat.shape[1]):
        np.save(folder / f"{name}__{c}.npy", np.ascontiguousarray(feat[:, c]))
        lines.append(f"{prefix}{name}__{c}.npy")
    return lines


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
