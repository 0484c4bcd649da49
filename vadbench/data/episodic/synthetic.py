"""Synthetic few-shot video datasets in the real on-disk layouts (small real video files).

    vadbench synth video --out DIR [--layout hmdb51|kinetics100|ucf_crime_v2|all] [--seed N]

Every class is a (shape, motion) pair: a small bright square, disk, cross or ring moving right,
left, up, down, diagonally or in a circle over a noisy background whose colour differs per video;
object colour, size, speed and start point vary per video. A model must learn shape and motion to
tell classes apart; classes of the test split are never seen in training, as in few-shot
benchmarks. Videos are encoded with PyAV (MPEG-4 part 2), `size` x `size` pixels.

Layouts (what the real datasets' loaders read):
- `hmdb51`: `videos/<class>/<class>_<n>.avi` and TRX lists `splits/{train,val,test}list03.txt`.
- `kinetics100`: `videos/<class with spaces>/<11-char id>_000000_000002.mp4`, TRX lists with
  `<class>/<id>_000000_000002`; about 8% of the listed videos are not written (as on the real
  Kinetics today), so the missing-video report is exercised.
- `ucf_crime_v2`: `videos/<Class>/<Class><nnn>_x264.mp4` (one class with `.MP4`) and ADNet's
  `Annotations/Splits/abnormal/{train_val,test}.json` with the anomalous segments in seconds; the
  object appears only inside those segments (noise elsewhere), so the clips must be cut.
Deterministic by seed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np

SHAPES = ("square", "disk", "cross", "ring")
MOTIONS = ("right", "left", "up", "down", "diagonal", "circle")
LAYOUT_NAMES = ("hmdb51", "kinetics100", "ucf_crime_v2")
_ID_CHARS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))


@dataclass
class SyntheticVideoConfig:
    """What `write_synthetic_video` generates (the defaults make ~1 MB and take a few seconds)."""

    layout: str = "hmdb51"
    seed: int = 0
    size: int = 64                 # frame width and height
    frames: int = 16               # frames per video (ucf_crime_v2: `frames * 2`, segments inside)
    fps: int = 8
    videos_per_class: int = 10
    train_classes: int = 8
    val_classes: int = 3
    test_classes: int = 5
    ucf_classes: int = 6           # ucf_crime_v2 layout: every class is a test class
    missing_fraction: float = 0.08  # kinetics100 layout: listed but absent videos
    noise: float = 20.0            # background noise std (0-255 scale)
    version: int = 1
    extra: dict = field(default_factory=dict)
    # small objects away from the centre (SKPS-Net's key-patch benchmark); 1.0 / 1.0 / 0.0 = as before
    object_scale: float = 1.0      # multiplies the object radius (0.09-0.14 of the frame side)
    motion_scale: float = 1.0      # multiplies the speed and the circle radius
    corner_offset: float = 0.0     # > 0: start near a random quadrant centre, (0.5 +- offset) * size
    distractors: int = 0           # static objects of random shapes in other quadrants (0-3); the class object moves

    def digest(self) -> str:
        data = asdict(self)
        for name, default in _LAYOUT_NEUTRAL_DEFAULTS.items():  # digests of existing sets stay the same
            if data[name] == default:
                del data[name]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]


_LAYOUT_NEUTRAL_DEFAULTS = {"object_scale": 1.0, "motion_scale": 1.0, "corner_offset": 0.0, "distractors": 0}


# ---------------------------------------------------------------------- rendering
def _trajectory(motion: str, t: np.ndarray, size: int, rng: np.random.Generator, motion_scale: float = 1.0,
                corner_offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    speed = rng.uniform(1.5, 3.0) * size / 64 * motion_scale
    x0, y0 = rng.uniform(0.25 * size, 0.75 * size, 2)
    if corner_offset > 0:  # near the centre of a random quadrant
        side = 2 * rng.integers(0, 2, 2) - 1
        x0, y0 = (0.5 + side * corner_offset + rng.uniform(-0.03, 0.03, 2)) * size
    if motion == "circle":
        radius, phase = rng.uniform(0.15, 0.25) * size * motion_scale, rng.uniform(0, 2 * np.pi)
        omega = speed / radius * (1 if rng.random() < 0.5 else -1)
        return x0 + radius * np.cos(phase + omega * t), y0 + radius * np.sin(phase + omega * t)
    dx, dy = {"right": (1, 0), "left": (-1, 0), "up": (0, -1), "down": (0, 1),
              "diagonal": (0.7071, 0.7071)}[motion]
    return (x0 + dx * speed * t) % size, (y0 + dy * speed * t) % size


def _mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    if shape == "square":
        return (np.abs(dx) < r) & (np.abs(dy) < r)
    if shape == "disk":
        return dx ** 2 + dy ** 2 < r ** 2
    if shape == "cross":
        return ((np.abs(dx) < r / 3) & (np.abs(dy) < r)) | ((np.abs(dy) < r / 3) & (np.abs(dx) < r))
    d2 = dx ** 2 + dy ** 2
    return (d2 < r ** 2) & (d2 > (0.5 * r) ** 2)


def render_video(shape: str, motion: str, num_frames: int, size: int, rng: np.random.Generator,
                 noise: float = 20.0, visible: np.ndarray | None = None, object_scale: float = 1.0,
                 motion_scale: float = 1.0, corner_offset: float = 0.0, distractors: int = 0) -> np.ndarray:
    """uint8 `(T, size, size, 3)`: the class's object moving over a noisy background.

    `visible` (T,) bool hides the object on False frames (only background noise there).
    `object_scale`, `motion_scale`, `corner_offset`, `distractors`: see `SyntheticVideoConfig`.
    Distractors are static objects (random shape, colour and size from the class object's ranges),
    one per quadrant other than the one the class object starts in, drawn under it.
    """
    t = np.arange(num_frames, dtype=np.float64)
    cx, cy = _trajectory(motion, t, size, rng, motion_scale, corner_offset)
    grid = np.arange(size, dtype=np.float64)
    dx = grid[None, None, :] - cx[:, None, None]
    dy = grid[None, :, None] - cy[:, None, None]
    dx = (dx + size / 2) % size - size / 2  # wrap around the frame edges
    dy = (dy + size / 2) % size - size / 2
    mask = _mask(shape, dx, dy, rng.uniform(0.09, 0.14) * size * object_scale)  # (T, H, W)
    if visible is not None:
        mask &= visible[:, None, None]
    background = rng.uniform(30, 120, 3)
    frames = background + noise * rng.standard_normal((num_frames, size, size, 3))
    colour = rng.uniform(170, 255, 3)
    if not 0 <= distractors <= 3:
        raise ValueError(f"distractors must be 0-3 (one per free quadrant), got {distractors}")
    if distractors:  # drawn after everything above, so distractors = 0 leaves a video byte-identical
        start = (int(cx[0] % size >= size / 2), int(cy[0] % size >= size / 2))
        free = [q for q in ((0, 0), (0, 1), (1, 0), (1, 1)) if q != start]
        offset = corner_offset if corner_offset > 0 else 0.25
        for k in rng.permutation(len(free))[:distractors]:
            qx, qy = free[k]
            px, py = (0.5 + (2 * np.array([qx, qy]) - 1) * offset + rng.uniform(-0.03, 0.03, 2)) * size
            still = _mask(SHAPES[int(rng.integers(len(SHAPES)))], grid[None, :] - px, grid[:, None] - py,
                          rng.uniform(0.09, 0.14) * size * object_scale)
            frames = np.where(still[None, :, :, None], rng.uniform(170, 255, 3), frames)
    frames = np.where(mask[..., None], colour, frames)
    return np.clip(frames, 0, 255).astype(np.uint8)


def write_video(path: str | Path, frames: np.ndarray, fps: int) -> None:
    """Encode uint8 `(T, H, W, 3)` frames with PyAV (MPEG-4 part 2, every 4th frame a key frame)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.gop_size = 4
        stream.options = {"qscale": "3"}
        for array in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# ---------------------------------------------------------------------- layouts
def _class_specs(n: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    combos = [(s, m) for s in SHAPES for m in MOTIONS]
    if n > len(combos):
        raise ValueError(f"at most {len(combos)} synthetic classes; asked for {n}")
    order = rng.permutation(len(combos))[:n]
    return [combos[i] for i in order]


def _write_trx_layout(tmp: Path, cfg: SyntheticVideoConfig, rng: np.random.Generator) -> dict:
    n_cls = cfg.train_classes + cfg.val_classes + cfg.test_classes
    specs = _class_specs(n_cls, rng)
    bounds = {"train": specs[:cfg.train_classes],
              "val": specs[cfg.train_classes:cfg.train_classes + cfg.val_classes],
              "test": specs[cfg.train_classes + cfg.val_classes:]}
    counts = {}
    for split, split_specs in bounds.items():
        lines, missing = [], 0
        for shape, motion in split_specs:
            if cfg.layout == "kinetics100":
                cls = f"{shape} moving {motion}"
            else:
                cls = f"{shape}_{motion}"
            for i in range(cfg.videos_per_class):
                if cfg.layout == "kinetics100":
                    stem = "".join(rng.choice(_ID_CHARS, 11)) + "_000000_000002"
                    path = tmp / "videos" / cls / f"{stem}.mp4"
                    absent = rng.random() < cfg.missing_fraction
                else:
                    stem = f"{cls}_{i}"
                    path = tmp / "videos" / cls / f"{stem}.avi"
                    absent = False
                frames = render_video(shape, motion, cfg.frames, cfg.size, rng, cfg.noise, None, cfg.object_scale,
                                      cfg.motion_scale, cfg.corner_offset, cfg.distractors)
                lines.append(f"{cls}/{stem}")
                if absent:
                    missing += 1
                    continue
                write_video(path, frames, cfg.fps)
        (tmp / "splits").mkdir(parents=True, exist_ok=True)
        (tmp / "splits" / f"{split}list03.txt").write_text("".join(l + "\n" for l in lines), encoding="utf-8")
        counts[split] = {"listed": len(lines), "missing": missing, "classes": len(split_specs)}
    return counts


def _write_ucf_v2_layout(tmp: Path, cfg: SyntheticVideoConfig, rng: np.random.Generator) -> dict:
    specs = _class_specs(cfg.ucf_classes, rng)
    frames_total = cfg.frames * 2
    seconds = frames_total // cfg.fps
    subsets: dict[str, dict] = {"train_val": {}, "test": {}}
    for k, (shape, motion) in enumerate(specs):
        cls = shape.capitalize() + motion.capitalize()
        ext = ".MP4" if k == 0 else ".mp4"  # ADNet's Banner videos mix the two
        for i in range(cfg.videos_per_class):
            name = f"{cls}{i + 1:03d}_x264{ext}"
            length = int(rng.integers(1, max(2, seconds // 2) + 1))
            start = int(rng.integers(0, seconds - length + 1))
            visible = np.zeros(frames_total, dtype=bool)
            visible[start * cfg.fps:(start + length) * cfg.fps] = True
            frames = render_video(shape, motion, frames_total, cfg.size, rng, cfg.noise, visible, cfg.object_scale,
                                  cfg.motion_scale, cfg.corner_offset, cfg.distractors)
            write_video(tmp / "videos" / cls / name, frames, cfg.fps)
            subset = "test" if i >= int(0.8 * cfg.videos_per_class) else "train_val"
            subsets[subset][f"{cls}/{name}"] = [{"end": start + length, "start": start}]
    folder = tmp / "Annotations" / "Splits" / "abnormal"
    folder.mkdir(parents=True)
    for subset, data in subsets.items():
        (folder / f"{subset}.json").write_text(json.dumps(data), encoding="utf-8")
    return {s: {"listed": len(d), "missing": 0, "classes": len(specs)} for s, d in subsets.items()}


def write_synthetic_video(out_dir: str | Path, cfg: SyntheticVideoConfig | None = None) -> Path:
    """Write one layout to `out_dir` (atomically: a temp folder renamed at the end)."""
    cfg = cfg or SyntheticVideoConfig()
    if cfg.layout not in LAYOUT_NAMES:
        raise ValueError(f"unknown synthetic video layout {cfg.layout!r}; expected one of {LAYOUT_NAMES}")
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    rng = np.random.default_rng([cfg.seed, LAYOUT_NAMES.index(cfg.layout)])
    if cfg.layout == "ucf_crime_v2":
        counts = _write_ucf_v2_layout(tmp, cfg, rng)
    else:
        counts = _write_trx_layout(tmp, cfg, rng)
    info = {"config": asdict(cfg), "digest": cfg.digest(), "counts": counts}
    (tmp / "synthetic.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out_dir)
    return out_dir


def ensure_synthetic_video(out_dir: str | Path, cfg: SyntheticVideoConfig) -> Path:
    """Generate the dataset unless `out_dir` already holds it for the same config."""
    out_dir = Path(out_dir)
    marker = out_dir / "synthetic.json"
    if marker.is_file():
        try:
            if json.loads(marker.read_text(encoding="utf-8")).get("digest") == cfg.digest():
                return out_dir
        except (OSError, json.JSONDecodeError):
            pass
    return write_synthetic_video(out_dir, cfg)


def default_synthetic_root(cfg: SyntheticVideoConfig) -> Path:
    from vadbench.paths import default_data_home

    return default_data_home() / f"synthetic_video_{cfg.layout}_seed{cfg.seed}_{cfg.digest()}"


# ---------------------------------------------------------------------- `vadbench synth video`
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="output folder (with --layout all: one sub-folder per layout)")
    parser.add_argument("--layout", default="all", choices=[*LAYOUT_NAMES, "all"],
                        help="on-disk layout to imitate (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=SyntheticVideoConfig.size, help="frame width/height in pixels")
    parser.add_argument("--frames", type=int, default=SyntheticVideoConfig.frames, help="frames per video")
    parser.add_argument("--videos-per-class", type=int, default=SyntheticVideoConfig.videos_per_class)


def run(args: argparse.Namespace) -> int:
    layouts = LAYOUT_NAMES if args.layout == "all" else (args.layout,)
    out = Path(args.out).expanduser()
    for layout in layouts:
        cfg = SyntheticVideoConfig(layout=layout, seed=args.seed, size=args.size, frames=args.frames,
                                   videos_per_class=getattr(args, "videos_per_class", SyntheticVideoConfig.videos_per_class))
        target = out / layout if args.layout == "all" else out
        write_synthetic_video(target, cfg)
        counts = json.loads((target / "synthetic.json").read_text(encoding="utf-8"))["counts"]
        summary = ", ".join(f"{s}: {c['listed']} videos/{c['classes']} classes"
                            + (f" ({c['missing']} listed but not written)" if c["missing"] else "")
                            for s, c in counts.items())
        print(f"vadbench synth video: {layout} layout written to {target} ({summary})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vadbench synth video", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
