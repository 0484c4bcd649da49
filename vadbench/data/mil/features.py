"""Reading the community's snippet-feature files: `.npy`, `[T, crops, D]` or `[T, D]`, memory-mapped."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from vadbench.errors import VadbenchError, not_a_file


class FeatureFileError(VadbenchError, ValueError):
    pass


@dataclass(frozen=True)
class FeatureHeader:
    path: Path
    shape: tuple[int, ...]

    @property
    def num_snippets(self) -> int:
        return self.shape[0]

    @property
    def num_views(self) -> int:
        return 1 if len(self.shape) == 2 else self.shape[1]

    @property
    def dim(self) -> int:
        return self.shape[-1]


def open_features(path: str | Path) -> np.ndarray:
    """Memory-map a feature file (nothing is read until sliced). Raises FeatureFileError naming the file."""
    path = Path(path)
    problem = not_a_file(path)
    if problem:
        raise FeatureFileError(f"feature file {path} {problem}" + (" (expected a .npy array)" if path.exists() else ""))
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise FeatureFileError(f"feature file {path} is not a readable .npy array: {err}") from err
    return arr


def read_header(path: str | Path, expected_dim: int | None = None, what: str = "[T, crops, D] or [T, D]") -> FeatureHeader:
    arr = open_features(path)
    if arr.ndim not in (2, 3):
        raise FeatureFileError(f"feature file {path}: expected shape {what}, got {tuple(arr.shape)}")
    if arr.shape[0] == 0:
        raise FeatureFileError(f"feature file {path}: has no snippets (shape {tuple(arr.shape)})")
    if expected_dim is not None and arr.shape[-1] != expected_dim:
        raise FeatureFileError(
            f"feature file {path}: feature dim {arr.shape[-1]} but the config expects {expected_dim}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise FeatureFileError(f"feature file {path}: expected floating point features, got {arr.dtype}")
    return FeatureHeader(Path(path), tuple(int(s) for s in arr.shape))


def _check_finite(path, arr: np.ndarray, checked: np.ndarray) -> None:
    """Raise naming the first NaN/Inf of `arr` when `checked` (a reduction of it, or `arr`) is not finite.

    A sum/mean propagates NaN/Inf, so checking the small reduced array finds any bad value; only
    then is the whole file scanned (a finite sum that overflows is not reported)."""
    if np.isfinite(checked).all():
        return
    bad = np.argwhere(~np.isfinite(np.asarray(arr)))
    if len(bad):
        raise FeatureFileError(f"feature file {path}: contains NaN/Inf (first at index {tuple(int(i) for i in bad[0])})")


def _crop_arrays(paths) -> list[np.ndarray]:
    """Memory maps of a per-crop video's files, each `[T, D]` of one T and D (checked again at load)."""
    arrs = [np.asarray(open_features(p)) for p in paths]
    for p, a in zip(paths, arrs):
        if a.ndim != 2 or a.shape != arrs[0].shape:
            raise FeatureFileError(f"crop file {p}: shape {list(a.shape)}, expected {list(arrs[0].shape)} "
                                   f"like crop 0 ({paths[0]})")
    return arrs


def load_features(source: str | Path | Sequence[str | Path]) -> np.ndarray:
    """Load a whole video as float32 `[T, V, D]` (V = crops or patches; 1 for `[T, D]`), checking NaN/Inf.

    `source` is one file, or a per-crop video's files (`<video>__<c>.npy`, each `[T, D]`, stacked in
    crop order). One copy: out of the memory map into memory (none more when the file is float32)."""
    if isinstance(source, (list, tuple)):
        arrs = _crop_arrays(source)
        out = np.empty((arrs[0].shape[0], len(arrs), arrs[0].shape[1]), dtype=np.float32)
        for c, (p, a) in enumerate(zip(source, arrs)):
            out[:, c] = a
            _check_finite(p, out[:, c], out[:, c].sum(axis=0, dtype=np.float64))
        return out
    arr = open_features(source)
    out = np.array(arr, dtype=np.float32)  # the one copy, out of the memory map
    if out.ndim == 2:
        out = out[:, None, :]
    _check_finite(source, out, out.sum(axis=0, dtype=np.float64))
    return out


def load_segments(source: str | Path | Sequence[str | Path], num_segments: int = 32) -> np.ndarray:
    """Read a video's `[S, V, D]` segment means straight from the memory map (no whole-video copy).

    Per-crop files are reduced crop by crop (the same float32 means as a stacked file's crop column)."""
    if isinstance(source, (list, tuple)):
        arrs = _crop_arrays(source)
        out = np.stack([reduce_to_segments(a, num_segments) for a in arrs], axis=1)
        for c, (p, a) in enumerate(zip(source, arrs)):
            _check_finite(p, a, out[:, c])
        return out
    arr = np.asarray(open_features(source))
    if arr.ndim == 2:
        arr = arr[:, None, :]
    out = reduce_to_segments(arr, num_segments)
    _check_finite(source, arr, out)
    return out


@functools.lru_cache(maxsize=1)
def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows): nothing to do
        return None


def release_free_memory() -> None:
    """Hand the heap's free pages back to the OS (glibc `malloc_trim(0)`; a no-op elsewhere).

    Evaluation allocates per-video buffers of a different size for every video (features, padded
    batch, activations); glibc keeps the freed ones in a fragmented heap, so the resident memory of
    `fit` then `test` grew with the number of test videos (+31% for 6x more videos,
    `vadbench bench memory`). Called before each evaluation batch (~1 ms against a video's forward)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def segment_boundaries(num_snippets: int, num_segments: int = 32) -> np.ndarray:
    """The official reduction's boundaries: `linspace(0, T, S+1)` cast to int."""
    return np.linspace(0, num_snippets, num_segments + 1).astype(np.int64)


def reduce_to_segments(feat: np.ndarray, num_segments: int = 32) -> np.ndarray:
    """Reduce `[T, ...]` to float32 `[S, ...]` as the official RTFM code does (`utils.process_feat`).

    With r = `linspace(0, T, S+1)` cast to int, segment i is the mean of `feat[r[i]:r[i+1]]`, or
    `feat[r[i]]` when that range is empty (T < S). Plain per-segment float32 means, as the official
    loop computes them, so the result is bit-identical to it (the test checks equality); reading a
    memory-mapped `feat` touches each snippet once and copies only the `[S, ...]` output.
    """
    r = segment_boundaries(feat.shape[0], num_segments)
    out = np.empty((num_segments,) + feat.shape[1:], dtype=np.float32)
    for i in range(num_segments):
        if r[i] < r[i + 1]:
            np.mean(feat[r[i]:r[i + 1]], axis=0, dtype=np.float32, out=out[i])
        else:
            out[i] = feat[r[i]]
    return out
