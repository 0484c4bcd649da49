"""Extraction settings, output files and their JSON sidecars; atomic writes and the resume rule.

Every output `<video><tag><suffix>` (`Abuse028_x264_i3d.npy`, `Abuse028_x264_patch23_i3d.npy`) has a
sidecar `<file>.json`:

    {"settings": {...everything that determines the numbers...},
     "video": {"name", "source", "source_kind", "source_fps", "frames", "snippets", "shape"},
     "created": "...", "vadbench_version": "..."}

A video is *finished* when each of its outputs and sidecars exist, the sidecar's `settings` equal
the current run's, and the `.npy` header has the recorded shape. Files are written to a hidden temp
file in the same folder (`.<name>.<pid>.tmp`), flushed, then `os.replace`d, so a kill never leaves a
half-written `.npy`; the temp files of dead processes are removed at the start of a run.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from vadbench.data.patch_grids import grid_tag, parse_grid
from vadbench.features.backbones import DEFAULT_NORMALISATION
from vadbench.features.transforms import CROP_VIEWS, parse_size

FORMAT = "vadbench-features/1"
TMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")


@dataclass
class ExtractionConfig:
    """What determines the numbers in the output files (all recorded in each sidecar).

    Defaults are the community's UCF-Crime / ShanghaiTech I3D setting: ResNet-50 I3D, native frame
    rate, 16-frame non-overlapping snippets, frames resized to 256x340 (PIL Lanczos), 10 crops of
    224x224, pixels mapped to [-1, 1].
    """

    backbone: str = "i3d_r50"
    weights: str | None = None
    seed: int = 0
    snippet_len: int = 16
    stride: int | None = None          # None = snippet_len (non-overlapping)
    tail: str = "pad"                  # pad: T = ceil(F / stride) (last snippet repeats the last frame); drop: floor
    fps: float | None = None           # None = every decoded frame (native rate)
    source_fps: float | None = None    # override of the container's rate (required to resample frame folders)
    resize: str = "256x340"            # "HxW", or "S" = short side S (aspect kept)
    resize_filter: str = "lanczos"
    crop: str = "ten"                  # ten | five | center | full
    crop_size: int = 224
    normalisation: str = "auto"        # auto = the backbone's own (see backbones.DEFAULT_NORMALISATION)
    patch_grids: list[str] = field(default_factory=list)  # e.g. ["2x3", "3x5", "4x7"]
    patch_frame_size: str = "480x840"
    clip: bool = True                  # False: patch features only
    suffix: str = "_i3d.npy"
    precision: str = "fp32"            # fp32 | fp16 | bf16 (autocast on the device)
    file_layout: str = "stacked"       # stacked: <video><suffix> [T, crops, D]; per_crop: <video>__<c>.npy [T, D] each
    clip_frame_pool: str = "center"    # clip_vit_b16: a snippet's middle frame, or the mean of its frames

    def __post_init__(self):
        if self.snippet_len < 1:
            raise ValueError(f"snippet_len must be >= 1, got {self.snippet_len}")
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if self.tail not in ("pad", "drop"):
            raise ValueError(f"tail must be 'pad' or 'drop', got {self.tail!r}")
        if self.crop not in CROP_VIEWS:
            raise ValueError(f"crop must be one of {list(CROP_VIEWS)}, got {self.crop!r}")
        if self.file_layout not in ("stacked", "per_crop"):
            raise ValueError(f"file layout must be stacked or per_crop, got {self.file_layout!r}")
        if self.backbone == "clip_vit_b16":
            from vadbench.features.clip import FRAME_POOLS, IMAGE_SIZE

            if self.crop == "full" or self.crop_size != IMAGE_SIZE:
                raise ValueError(f"clip_vit_b16 takes {IMAGE_SIZE}x{IMAGE_SIZE} views: use --crop ten|five|center "
                                 f"with --crop-size {IMAGE_SIZE} (got --crop {self.crop}, --crop-size {self.crop_size})")
            if self.clip_frame_pool not in FRAME_POOLS:
                raise ValueError(f"clip frame pooling must be one of {FRAME_POOLS}, got {self.clip_frame_pool!r}")
        if self.precision not in ("fp32", "fp16", "bf16"):
            raise ValueError(f"precision must be fp32, fp16 or bf16, got {self.precision!r}")
        if not self.suffix.endswith(".npy"):
            raise ValueError(f"suffix must end with .npy, got {self.suffix!r}")
        if not self.clip and not self.patch_grids:
            raise ValueError("nothing to extract: clip features are off and no patch grid is given")
        parse_size(self.resize)
        ph, pw = self.patch_frame_size_hw
        for g in self.grids:
            if ph % g[0] or pw % g[1]:
                raise ValueError(f"patch frame size {ph}x{pw} does not divide into a {g[0]}x{g[1]} grid")

    @property
    def snippet_stride(self) -> int:
        return self.stride or self.snippet_len

    @property
    def grids(self) -> list[tuple[int, int]]:
        return [parse_grid(g) for g in self.patch_grids]

    @property
    def patch_frame_size_hw(self) -> tuple[int, int]:
        size = parse_size(self.patch_frame_size)
        if isinstance(size, int):
            raise ValueError(f"patch_frame_size must be HxW (e.g. 480x840), got {self.patch_frame_size!r}")
        return size

    @property
    def resolved_normalisation(self) -> str:
        return DEFAULT_NORMALISATION[self.backbone] if self.normalisation == "auto" else self.normalisation

    def num_snippets(self, num_frames: int) -> int:
        """T for a video of `num_frames` frames (0 = too short to give one snippet with tail=drop)."""
        length, stride = self.snippet_len, self.snippet_stride
        if num_frames <= 0:
            return 0
        if self.tail == "drop":
            return 0 if num_frames < length else (num_frames - length) // stride + 1
        return -(-max(num_frames - length, 0) // stride) + 1

    def outputs(self) -> list[str]:
        """The tags of the files each video gets: "" (clip features) and/or "_patch23", ..."""
        return ([""] if self.clip else []) + [f"_{grid_tag(g)}" for g in self.grids]

    def file_settings(self, tag: str, weights_id: str, seed: int | None, feature_dim: int) -> dict:
        common = {"format": FORMAT, "backbone": self.backbone, "weights": weights_id, "seed": seed,
                  "feature_dim": feature_dim, "snippet_len": self.snippet_len, "stride": self.snippet_stride,
                  "tail": self.tail, "fps": self.fps, "source_fps": self.source_fps,
                  "normalisation": self.resolved_normalisation, "resize_filter": self.resize_filter,
                  "precision": self.precision}
        if self.backbone == "clip_vit_b16":
            from vadbench.features.clip import clip_settings

            common["clip"] = clip_settings(self.clip_frame_pool)
        if tag == "":
            clip = {**common, "view": "clip", "resize": self.resize, "crop": self.crop,
                    "crop_size": None if self.crop == "full" else self.crop_size, "views": CROP_VIEWS[self.crop]}
            if self.file_layout == "per_crop":   # one [T, D] file per crop, <video>__<c>.npy
                clip["file_layout"] = "per_crop"
            return clip
        rows, cols = parse_grid(tag[1:])
        ph, pw = self.patch_frame_size_hw
        return {**common, "view": tag[1:], "frame_size": [ph, pw], "grid": [rows, cols],
                "window": [ph // rows, pw // cols], "views": rows * cols}

    def to_dict(self) -> dict:
        return asdict(self)


def output_path(out_dir: Path, name: str, tag: str, suffix: str) -> Path:
    return out_dir / f"{name}{tag}{suffix}"


def output_files(cfg: ExtractionConfig, out_dir: Path, name: str, views: int) -> list[tuple[str, Path, int | None]]:
    """(tag, path, crop index) of every file a video gets: per_crop clip features are one
    `<video>__<c>.npy` per crop (c = 0..views-1, Wu et al.'s naming), the rest one file per tag."""
    out = []
    for tag in cfg.outputs():
        if tag == "" and cfg.file_layout == "per_crop":
            out += [(tag, out_dir / f"{name}__{c}.npy", c) for c in range(views)]
        else:
            out.append((tag, output_path(out_dir, name, tag, cfg.suffix), None))
    return out


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def atomic_write(path: Path, write: Callable[[io.BufferedWriter], None]) -> None:
    """Write via a hidden temp file in the same folder, fsync, then `os.replace` (atomic on POSIX)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_output(path: Path, features: np.ndarray, settings: dict, video: dict) -> None:
    """Atomically write `features` and then its sidecar (a sidecar never names a missing array)."""
    atomic_write(path, lambda fh: np.save(fh, features, allow_pickle=False))
    meta = {"settings": settings, "video": {**video, "shape": list(features.shape)},
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "vadbench_version": _version()}
    text = json.dumps(meta, indent=1, sort_keys=True).encode()
    atomic_write(sidecar_path(path), lambda fh: fh.write(text))


def _version() -> str:
    try:
        from vadbench import __version__
    except ImportError:
        return "unknown"
    return str(__version__)


def is_finished(path: Path, settings: dict) -> bool:
    """True when `path` and its sidecar exist, the settings match and the array header fits the sidecar."""
    side = sidecar_path(path)
    if not (path.is_file() and side.is_file()):
        return False
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
        if meta.get("settings") != json.loads(json.dumps(settings)):
            return False
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return False
    return list(arr.shape) == list(meta.get("video", {}).get("shape", []))


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temp_files(out_dir: Path) -> list[Path]:
    """Remove the temp files that killed runs left behind (those of live processes are kept)."""
    removed = []
    if not out_dir.is_dir():
        return removed
    for p in out_dir.iterdir():
        m = TMP_RE.match(p.name)
        if m and p.is_file() and not _pid_alive(int(m.group("pid"))):
            p.unlink()
            removed.append(p)
    return removed
