"""Finding the videos of an input folder and decoding their frames (PyAV or image folders).

A video is either a file PyAV decodes (`.mp4`, `.avi`, `.mkv`, ...) or a folder of frame images
(`NN/000.jpg`, the UCSD / ShanghaiTech / Avenue layout). Its *name* (the output file stem) follows
the layout:

- `flat`: a video file's stem, a frame folder's own name (`01_0014`, `Test001`).
- `ucsd_ped2`: UCSD Ped2 as vadbench's manifest names it: `training/frames/01` -> `Train001`,
  `testing/frames/01` -> `Test001` (the HF2-VAD / MNAD layout); the official
  `UCSDped2/Train/Train001` folders keep their names, and the official `*_gt` mask folders are skipped.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from vadbench.errors import VadbenchError

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".3gp"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
LAYOUTS = ("flat", "ucsd_ped2")


class DecodeError(VadbenchError, RuntimeError):
    pass


@dataclass(frozen=True)
class VideoSource:
    name: str
    path: Path
    kind: str  # "file" | "frames"

    @property
    def size_bytes(self) -> int:
        if self.kind == "file":
            return self.path.stat().st_size
        return sum(p.stat().st_size for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def natural_key(text: str) -> list:
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", text)]


def _frame_files(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
                  key=lambda p: natural_key(p.name))


def _ucsd_name(rel: Path) -> str | None:
    parts = rel.parts
    if len(parts) >= 3 and parts[-2] == "frames" and parts[-3] in ("training", "testing") and parts[-1].isdigit():
        return ("Train" if parts[-3] == "training" else "Test") + f"{int(parts[-1]):03d}"
    if re.fullmatch(r"(Train|Test)\d{3}", parts[-1]):
        return parts[-1]
    return None


def discover_videos(root: str | Path, layout: str = "flat") -> list[VideoSource]:
    """All videos under `root` (recursive), sorted by name. Raises on duplicate names or an empty folder."""
    root = Path(root).expanduser()
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    if root.is_file():
        if root.suffix.lower() not in VIDEO_EXTENSIONS:
            raise ValueError(f"{root} is not a video file (known extensions: {sorted(VIDEO_EXTENSIONS)})")
        return [VideoSource(root.stem, root, "file")]
    if not root.is_dir():
        raise FileNotFoundError(f"input folder not found: {root}")
    found: list[VideoSource] = []
    folders = [root, *sorted(p for p in root.rglob("*") if p.is_dir())]
    for folder in folders:
        if layout == "ucsd_ped2" and folder.name.endswith("_gt"):
            continue
        if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in folder.iterdir() if p.is_file()):
            rel = folder.relative_to(root) if folder != root else Path(folder.name)
            if layout == "ucsd_ped2":
                name = _ucsd_name(rel)
                if name is None:
                    raise ValueError(f"--layout ucsd_ped2: frame folder {folder} is neither "
                                     f"{{training,testing}}/frames/NN nor Train###/Test###")
            else:
                name = folder.name
            found.append(VideoSource(name, folder, "frames"))
    if layout == "flat":
        found += [VideoSource(p.stem, p, "file") for p in sorted(root.rglob("*"))
                  if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]
    if not found:
        raise FileNotFoundError(f"no videos ({', '.join(sorted(VIDEO_EXTENSIONS))}) or frame folders "
                                f"({', '.join(sorted(IMAGE_EXTENSIONS))}) under {root}")
    by_name: dict[str, VideoSource] = {}
    for src in found:
        if src.name in by_name:
            raise ValueError(f"two inputs map to the output name {src.name!r}: {by_name[src.name].path} and "
                             f"{src.path}; rename one or extract them into separate output folders")
        by_name[src.name] = src
    return sorted(found, key=lambda s: natural_key(s.name))


# ----------------------------------------------------------------------------- decoding
def _resample(frames: Iterator[tuple[float, np.ndarray]], fps: float, duration_hint: float) -> Iterator[np.ndarray]:
    """Frames at `fps`: output frame k is the source frame shown at time k / fps (the last with t <= k/fps)."""
    step, k, prev, prev_t = 1.0 / fps, 0, None, None
    eps = 1e-6
    for t, frame in frames:
        while prev is not None and k * step < t - eps:
            yield prev
            k += 1
        if prev is None:
            k = max(k, int(np.ceil(t / step - eps)))  # streams that start after 0
        prev, prev_t = frame, t
    if prev is not None:
        end = prev_t + duration_hint  # the last frame stays on screen one source frame duration
        while k * step < end - eps:
            yield prev
            k += 1


def expected_frames(stream) -> int | None:
    """The frame count a container declares for a video stream: its frame count, else duration x rate."""
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate or stream.guessed_rate
    if stream.duration is not None and stream.time_base is not None and rate:
        return int(round(float(stream.duration * stream.time_base) * float(rate)))
    container = getattr(stream, "container", None)
    if container is not None and container.duration and rate:  # microseconds (av.time_base)
        return int(round(container.duration / 1_000_000 * float(rate)))
    return None


def short_tolerance(expected: int) -> int:
    """Frames a decode may fall short of the declared count (edit lists, B-frame rounding)."""
    return max(2, int(0.01 * expected))


class _FrameConverter:
    """Decoded frame (a PyAV `VideoFrame` or an RGB array of a frame image) -> RGB uint8 array(s).

    `sizes=None`: the frame at its own size. Else one array per entry of `sizes` ((H, W), a short side
    S with the aspect kept, or None for no array), resized with `resize_filter`: a PIL filter resizes
    the RGB frame (`transforms.resize_frame`); an `sws_*` filter has FFmpeg's swscale convert the
    decoded YUV frame to RGB at the target size in one pass. One swscale context per output, reused
    frame after frame: `frame.to_ndarray(format="rgb24")` builds a new one for every frame, which
    costs about as much as decoding a 340x256 frame (same pixels either way)."""

    def __init__(self, sizes=None, resize_filter: str = "lanczos"):
        from av.video.reformatter import VideoReformatter

        from vadbench.features.transforms import SWS_INTERPOLATION

        self.sizes, self.filter = sizes, resize_filter
        self.sws = SWS_INTERPOLATION.get(resize_filter)
        self.rgb = VideoReformatter()
        self.scalers = [VideoReformatter() for _ in (sizes or ())]

    _threads: dict = {"threads": 1}  # swscale on the calling thread (PyAV >= 14; less CPU than its own threads)

    @classmethod
    def _reformat(cls, reformatter, frame, **kwargs):
        try:
            return reformatter.reformat(frame, **kwargs, **cls._threads)
        except TypeError:  # an older PyAV without `threads`
            if not cls._threads:
                raise
            cls._threads = {}
            return reformatter.reformat(frame, **kwargs)

    def to_rgb(self, frame) -> np.ndarray:
        if isinstance(frame, np.ndarray):
            return frame
        return self._reformat(self.rgb, frame, format="rgb24").to_ndarray()

    def __call__(self, frame):
        if self.sizes is None:
            return self.to_rgb(frame)
        from vadbench.features.transforms import resize_frame, target_size

        hw = frame.shape[:2] if isinstance(frame, np.ndarray) else (frame.height, frame.width)
        out, rgb = [], None
        for size, scaler in zip(self.sizes, self.scalers):
            if size is None:
                out.append(None)
                continue
            h, w = target_size(hw, size)
            if self.sws is not None and not isinstance(frame, np.ndarray):
                out.append(self._reformat(scaler, frame, width=w, height=h, format="rgb24",
                                          interpolation=self.sws).to_ndarray())
            else:
                rgb = self.to_rgb(frame) if rgb is None else rgb
                out.append(resize_frame(rgb, (h, w), self.filter))
        return tuple(out)


def iter_frames(src: VideoSource, fps: float | None = None, source_fps: float | None = None,
                info: dict | None = None, accept_short: bool = False, sizes=None,
                resize_filter: str = "lanczos", thread_type: str = "AUTO") -> Iterator:
    """Yield RGB uint8 frames `(H, W, 3)` in display order, optionally resampled to `fps`.

    With `sizes` (a sequence of (H, W), short side S, or None), yield per frame a tuple of the frame
    resized to each size with `resize_filter` instead (None entries stay None); see `_FrameConverter`.
    A frame repeated by the resampling is converted once, a dropped one not at all. `thread_type`:
    PyAV's decoder threading (`AUTO`: frame and slice threads, the fastest for one decoder on idle
    cores; `NONE`: one thread, ~20% less CPU per frame, for decoders that already fill every core).

    `info` (if given) receives `source_fps`, `expected_frames` (what the container declares) and,
    when done, `decoded_frames`; and, as it goes, `decode_seconds` (reading and decoding) and
    `convert_seconds` (RGB conversion and resizing). A video file whose decode ends more than
    `short_tolerance` frames before the container's own frame count / duration (a truncated
    download, a cut faststart mp4) raises DecodeError naming it, unless `accept_short`.
    """
    info = info if info is not None else {}
    info.setdefault("decode_seconds", 0.0)
    info.setdefault("convert_seconds", 0.0)
    if src.kind == "frames":
        files = _frame_files(src.path)
        if not files:
            raise DecodeError(f"{src.path}: no frame images")
        if fps is not None and source_fps is None:
            raise DecodeError(f"{src.path}: a frame folder has no timestamps; give --source-fps to resample to {fps}")
        info["source_fps"] = source_fps

        def gen():
            from PIL import Image

            for i, f in enumerate(files):
                tick = time.perf_counter()
                try:
                    with Image.open(f) as im:
                        frame = np.asarray(im.convert("RGB"))
                except Exception as err:  # PIL raises several types on corrupt images
                    raise DecodeError(f"{f}: unreadable frame image: {err}") from err
                info["decode_seconds"] += time.perf_counter() - tick
                info["decoded_frames"] = i + 1
                yield (i / source_fps if source_fps else float(i)), frame

        timed = gen()
        src_rate = source_fps
    else:
        import av

        try:
            container = av.open(str(src.path))
        except Exception as err:  # av.error.* and OSError
            raise DecodeError(f"{src.path}: PyAV cannot open it: {err}") from err
        if not container.streams.video:
            container.close()
            raise DecodeError(f"{src.path}: has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = thread_type
        rate = stream.average_rate or stream.guessed_rate
        src_rate = float(source_fps or (rate if rate else 0)) or None
        info["source_fps"] = src_rate
        base = stream.time_base or Fraction(1, 1)
        declared = expected_frames(stream)
        info["expected_frames"] = declared

        def gen():
            n = 0
            try:
                frames = container.decode(stream)
                while True:
                    tick = time.perf_counter()
                    frame = next(frames, None)
                    info["decode_seconds"] += time.perf_counter() - tick
                    if frame is None:
                        break
                    t = float(frame.pts * base) if frame.pts is not None else n / (src_rate or 25.0)
                    n += 1
                    info["decoded_frames"] = n
                    yield t, frame
            except Exception as err:  # corrupt packets raise av.error.*
                raise DecodeError(f"{src.path}: decoding failed after {n} frames: {err}") from err
            finally:
                container.close()
            if declared and n < declared - short_tolerance(declared) and not accept_short:
                raise DecodeError(f"{src.path}: the video ends early: {n} frames decoded but the container "
                                  f"declares {declared} (a truncated or cut file?); re-download it, or pass "
                                  f"--accept-short to extract the {n} frames it has")

        timed = gen()
    if fps is None:
        frames = (frame for _, frame in timed)
    else:
        if not src_rate:
            raise DecodeError(f"{src.path}: unknown source frame rate; give --source-fps")
        frames = _resample(timed, fps, 1.0 / src_rate)
    convert = _FrameConverter(sizes, resize_filter)
    last, converted = None, None
    for frame in frames:
        if frame is not last:  # the resampling repeats a frame object: convert it once
            tick = time.perf_counter()
            last, converted = frame, convert(frame)
            info["convert_seconds"] += time.perf_counter() - tick
        yield converted
