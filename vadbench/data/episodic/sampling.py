"""Which frames of a video (or of an annotated clip of it) make the T-frame input.

TRX's sampling (the one SKPS-Net and STRM inherit), as the official code (`video_reader.py`) does it:
- training: leave a random margin of up to `min(5, excess / 2)` frames at each end
  (`excess = n - T`), then take T evenly spaced frames between the two margins;
- test: T evenly spaced frames between frame 1 and frame n - 2 (fixed: the same every episode);
- either way, when the span left between the margins is shorter than T (`end - start < T`: at test
  `n - 3 < T`, in training when both random margins come out large), the whole video is used
  instead: T evenly spaced frames between 0 and n - 1.
`segment` (TSN-style: one random frame in each of T equal segments) is offered as an alternative.
A video shorter than T frames repeats frames (evenly spaced indices with repeats).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

TrainSampling = Literal["trx", "segment"]


def _spaced(start: float, end: float, count: int) -> np.ndarray:
    return np.linspace(start, end, count).astype(np.int64)  # floor, as int() of the linspace


def _within(start: int, end: int, num_frames: int, seq_len: int) -> np.ndarray:
    """T evenly spaced frames in [start, end], or in the whole video when that span is under T (TRX)."""
    if end - start < seq_len:
        start, end = 0, num_frames - 1
    return _spaced(start, end, seq_len)


def eval_indices(num_frames: int, seq_len: int) -> np.ndarray:
    """Fixed test-time indices: `linspace(1, n - 2, T)`, or `linspace(0, n - 1, T)` when `n - 3 < T`."""
    if num_frames <= 0:
        raise ValueError(f"cannot sample frames from a video with {num_frames} frames")
    return _within(1, num_frames - 2, num_frames, seq_len)


def trx_train_indices(num_frames: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
    """Training indices: random margins of at most `min(5, excess / 2)` frames, then evenly spaced
    (the whole video when no margin fits or the drawn span is shorter than T)."""
    if num_frames <= 0:
        raise ValueError(f"cannot sample frames from a video with {num_frames} frames")
    pad = int(min(5, (num_frames - seq_len) / 2))
    if pad < 1:
        return _spaced(0, num_frames - 1, seq_len)
    start = int(rng.integers(0, pad + 1))
    end = int(rng.integers(num_frames - 1 - pad, num_frames))
    return _within(start, end, num_frames, seq_len)


def segment_train_indices(num_frames: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
    """TSN-style: T equal segments, one uniformly random frame in each."""
    if num_frames <= 0:
        raise ValueError(f"cannot sample frames from a video with {num_frames} frames")
    edges = np.linspace(0, num_frames, seq_len + 1)
    lo = np.floor(edges[:-1]).astype(np.int64)
    hi = np.maximum(lo + 1, np.floor(edges[1:]).astype(np.int64))
    return np.minimum(lo + (rng.random(seq_len) * (hi - lo)).astype(np.int64), num_frames - 1)


def sample_indices(num_frames: int, seq_len: int, rng: np.random.Generator | None,
                   method: TrainSampling = "trx") -> np.ndarray:
    """Training indices when `rng` is given, the fixed test indices when it is None."""
    if rng is None:
        return eval_indices(num_frames, seq_len)
    if method == "segment":
        return segment_train_indices(num_frames, seq_len, rng)
    if method == "trx":
        return trx_train_indices(num_frames, seq_len, rng)
    raise ValueError(f"unknown frame sampling {method!r}; expected 'trx' or 'segment'")


def clip_timeline(segments_s, fps: float, num_frames: int) -> np.ndarray:
    """Absolute frame numbers of an annotated clip: the frames inside its segments, concatenated.

    `segments_s` are `(start, end)` pairs in seconds (UCF-Crime v2 uses whole seconds); a segment
    covers frames `[round(start * fps), round(end * fps))`, a zero-length one its first second, and
    a reversed one is read as if its ends were swapped. No segment (or none inside the video)
    means the whole video.
    """
    parts = []
    for start, end in segments_s:
        start, end = (end, start) if end < start else (start, end)
        if end == start:
            end = start + 1.0
        a = max(0, int(round(start * fps)))
        b = min(num_frames, max(a + 1, int(round(end * fps))))
        if a < num_frames:
            parts.append(np.arange(a, b, dtype=np.int64))
    if not parts:
        return np.arange(num_frames, dtype=np.int64)
    return np.unique(np.concatenate(parts))
