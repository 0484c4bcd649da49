"""Reading the community's snippet-feature files: `.npy`, `[T, crops, D]` or `[T, D]`, memory-mapped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vadbench.errors import VadbenchError


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
    if not path.is_file():
        raise FeatureFileError(f"feature file not found: {path}")
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


def load_features(path: str | Path) -> np.ndarray:
    """Load a whole file as float32 `[T, V, D]` (V = crops or patches; 1 for `[T, D]`), checking NaN/Inf."""
    arr = open_features(path)
    out = np.array(arr, dtype=np.float32)  # copy out of the memory map
    if out.ndim == 2:
        out = out[:, None, :]
    if not np.isfinite(out).all():
        bad = np.argwhere(~np.isfinite(out))[0]
        raise FeatureFileError(f"feature file {path}: contains NaN/Inf (first at index {tuple(int(i) for i in bad)})")
    return out


def segment_boundaries(num_snippets: int, num_segments: int = 32) -> np.ndarray:
    """The official reduction's boundaries: `linspace(0, T, S+1)` cast to int."""
    return np.linspace(0, num_snippets, num_segments + 1).astype(np.int64)


def reduce_to_segments(feat: np.ndarray, num_segments: int = 32) -> np.ndarray:
    """Reduce `[T, ...]` to `[S, ...]` as the official RTFM code does, vectorised.

    Segment i is the mean of `feat[r[i]:r[i+1]]`, or `feat[r[i]]` when that range is empty (T < S).
    """
    t = feat.shape[0]
    r = segment_boundaries(t, num_segments)
    csum = np.concatenate([np.zeros_like(feat[:1], dtype=np.float64), np.cumsum(feat, axis=0, dtype=np.float64)])
    lengths = (r[1:] - r[:-1]).astype(np.float64)
    nonempty = lengths > 0
    shape = (-1,) + (1,) * (feat.ndim - 1)
    means = (csum[r[1:]] - csum[r[:-1]]) / np.maximum(lengths, 1).reshape(shape)
    single = feat[np.minimum(r[:-1], t - 1)]
    return np.where(nonempty.reshape(shape), means, single).astype(np.float32)
