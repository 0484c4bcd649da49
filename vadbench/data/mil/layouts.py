"""Feature layouts: how a video's snippet features lie on disk, all read as one `[T, crops, D]` array.

- `stacked` (RTFM's files): one `<video><feature_suffix>` per video, `[T, crops, D]` or `[T, D]`.
- `per_crop` (Wu et al.'s I3D-1024 and VadCLIP's CLIP-512 files, read by UR-DMU, MGFN, BN-WVAD,
  PEL4VAD): one file per crop, `<video>__<c>.npy` with c = 0..crops-1, each `[T, D]`; stacked along
  a new crop axis in crop order.
- `single_view`: one `<video><feature_suffix>` per video, `[T, D]` only (read as `[T, 1, D]`).

The official per-crop lists name one crop file per line (`E:/.../<video>__3.npy`, Windows paths
included); `collapse_crop_list` turns them into videos. Every check of the stacked layout holds per
crop file (readable, floating point, finite, sidecar), plus: every crop file present, all crops of
a video of one T and one D, no crop beyond `crops`. Errors name the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vadbench.data.mil.features import FeatureFileError, FeatureHeader, read_header
from vadbench.errors import ConfigError, DataError

FeatureLayout = Literal["stacked", "per_crop", "single_view"]
FEATURE_LAYOUTS = ("stacked", "per_crop", "single_view")
CROP_FILE = re.compile(r"^(?P<video>.+)__(?P<crop>\d+)\.npy$")


def crop_file_name(video: str, crop: int) -> str:
    """`Abuse028_x264`, 3 -> `Abuse028_x264__3.npy` (Wu et al.'s naming)."""
    return f"{video}__{crop}.npy"


def list_line_basename(line: str) -> str:
    """The file name of a list line, whatever OS wrote it (`E:\\a\\b.npy`, `/a/b.npy`, `b.npy`)."""
    return line.strip().replace("\\", "/").rsplit("/", 1)[-1]


def is_crop_file(line: str) -> bool:
    return CROP_FILE.match(list_line_basename(line)) is not None


def collapse_crop_list(lines: list[str], source: str | Path) -> list[tuple[str, tuple[int, ...]]]:
    """Per-crop list lines (one crop file per line) -> [(video, crop indices)], videos in first-seen order.

    Crops of one video are one entry; the same crop file listed twice is an error (naming the list and
    both line numbers), and so is a video whose crops are not 0..n-1 or whose n differs from the others'.
    """
    seen: dict[str, int] = {}                   # crop file name -> its first line number
    crops: dict[str, list[int]] = {}
    for lineno, line in enumerate(lines, 1):
        base = list_line_basename(line)
        m = CROP_FILE.match(base)
        if m is None:
            raise DataError(f"{source}:{lineno}: {line.strip()!r} is not a per-crop feature file "
                            f"<video>__<crop>.npy; a per-crop list names one crop file per line")
        if base in seen:
            raise DataError(f"{source}:{lineno}: crop file {base} is listed twice (lines {seen[base]} and {lineno})")
        seen[base] = lineno
        crops.setdefault(m["video"], []).append(int(m["crop"]))
    counts = {}
    for video, cs in crops.items():
        if sorted(cs) != list(range(len(cs))):
            raise DataError(f"{source}: video {video} lists crops {sorted(cs)}; expected crops 0..{len(cs) - 1}")
        counts.setdefault(len(cs), video)
    if len(counts) > 1:
        shown = ", ".join(f"{n} crops ({v})" for n, v in sorted(counts.items()))
        raise DataError(f"{source}: videos list different numbers of crop files: {shown}")
    return [(video, tuple(sorted(cs))) for video, cs in crops.items()]


@dataclass(frozen=True)
class VideoFiles:
    """Where one video's clip features are: one file (stacked, single_view) or one per crop (per_crop)."""

    paths: tuple[Path, ...]
    per_crop: bool = False

    @property
    def path(self) -> Path:
        """The first file (the only one, or crop 0)."""
        return self.paths[0]


def resolve_video_files(index: dict[str, Path], root: Path, name: str, layout: FeatureLayout, suffix: str,
                        crops: int | None) -> VideoFiles:
    """Find a video's files by name under `root` (`index`: file name -> path). Raises FeatureFileError
    naming the missing file."""
    if layout != "per_crop":
        path = index.get(name + suffix)
        if path is None:
            raise FeatureFileError(f"feature file {name + suffix} not found under {root}")
        return VideoFiles((path,))
    n = crops
    if n is None:  # as many as there are, from crop 0 on
        n = 0
        while crop_file_name(name, n) in index:
            n += 1
        if n == 0:
            raise FeatureFileError(f"crop file {crop_file_name(name, 0)} not found under {root} "
                                   f"(per_crop layout: <video>__<c>.npy)")
    paths = []
    for c in range(n):
        p = index.get(crop_file_name(name, c))
        if p is None:
            raise FeatureFileError(f"crop file {crop_file_name(name, c)} not found under {root} (per_crop layout: "
                                   f"crops 0..{n - 1} of video {name}, data.init_args.crops = {crops})")
        paths.append(p)
    extra = index.get(crop_file_name(name, n))
    if extra is not None:
        raise FeatureFileError(f"crop file {extra} is beyond the {n} crops expected for video {name} "
                               f"(data.init_args.crops = {n}); set crops to the number of crop files")
    return VideoFiles(tuple(paths), per_crop=True)


def read_video_header(files: VideoFiles, layout: FeatureLayout, expected_dim: int | None = None,
                      crops: int | None = None) -> FeatureHeader:
    """The video's `[T, crops, D]` shape, checked file by file; errors name the file.

    per_crop: every crop file `[T, D]`, all of one T and one D. single_view: a `[T, D]` file.
    stacked: `[T, crops, D]` or `[T, D]`; with `crops` set, the crop axis must have that size.
    """
    if layout == "per_crop":
        heads = [read_header(p, expected_dim, what="[T, D] (one crop)") for p in files.paths]
        first = heads[0]
        for h in heads:
            if len(h.shape) != 2:
                raise FeatureFileError(f"crop file {h.path}: expected shape [T, D] (one crop of the per_crop layout), "
                                       f"got {list(h.shape)}")
        for h in heads[1:]:
            if h.num_snippets != first.num_snippets:
                raise FeatureFileError(f"crop file {h.path}: T = {h.num_snippets} snippets but crop 0 "
                                       f"({first.path}) has T = {first.num_snippets}; the crops of a video must "
                                       f"have the same length")
            if h.dim != first.dim:
                raise FeatureFileError(f"crop file {h.path}: feature dim {h.dim} but crop 0 ({first.path}) has "
                                       f"{first.dim}")
        return FeatureHeader(first.path, (first.num_snippets, len(heads), first.dim))
    head = read_header(files.path, expected_dim,
                       what="[T, D] (single_view layout)" if layout == "single_view" else "[T, crops, D] or [T, D]")
    if layout == "single_view" and len(head.shape) != 2:
        raise FeatureFileError(f"feature file {head.path}: expected shape [T, D] (single_view layout), got "
                               f"{list(head.shape)}; use feature_layout: stacked for [T, crops, D] files")
    if crops is not None and head.num_views != crops:
        raise FeatureFileError(f"feature file {head.path}: {head.num_views} crops (shape {list(head.shape)}) but "
                               f"data.init_args.crops = {crops}")
    return head


def check_layout_options(layout: str, crops: int | None) -> None:
    if layout not in FEATURE_LAYOUTS:
        raise ConfigError(f"data.init_args.feature_layout: unknown layout {layout!r}; expected one of "
                          f"{list(FEATURE_LAYOUTS)}")
    if crops is not None and crops < 1:
        raise ConfigError(f"data.init_args.crops must be at least 1, got {crops}")
    if layout == "single_view" and crops not in (None, 1):
        raise ConfigError(f"data.init_args.crops = {crops} with feature_layout single_view ([T, D] files: one view)")
