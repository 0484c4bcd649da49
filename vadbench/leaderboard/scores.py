"""Per-video anomaly scores saved beside a result JSON, for ROC/PR curves and score timelines.

File: `<result>.scores.npz` next to `<result>.json` (same stem), written by the MIL test step with
`save_scores`. A NumPy `.npz` archive (format version 1) holding ragged per-video arrays flattened
with offsets:

    version            int64 ()      1
    video_names        str   (V,)    test video ids, in test order
    frames_per_snippet int64 ()      F: frames covered by one snippet score (16 for I3D snippets)
    snippet_scores     float32 (sum T_v,)   anomaly score of each snippet, videos concatenated
    snippet_offsets    int64 (V + 1,)       video v's snippets are snippet_scores[o[v]:o[v+1]]
    frame_labels       int8  (sum L_v,)     ground truth per frame (0 normal, 1 anomalous)
    frame_offsets      int64 (V + 1,)       video v's frames are frame_labels[o[v]:o[v+1]]

Frame v's score is its snippet's score repeated F times (the papers' protocol); a video's label
vector may be shorter than T_v * F (the last snippet partly padded) but never longer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

SCORES_VERSION = 1
SCORES_SUFFIX = ".scores.npz"


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def scores_path_for(result_path: str | Path) -> Path:
    """`runs/x.json` -> `runs/x.scores.npz`."""
    p = Path(result_path)
    return p.with_name(p.name[: -len(".json")] + SCORES_SUFFIX if p.name.endswith(".json") else p.name + SCORES_SUFFIX)


def save_scores(path: str | Path, video_names: Sequence[str], snippet_scores: Sequence, frame_labels: Sequence,
                frames_per_snippet: int = 16) -> Path:
    """Write per-video snippet scores and frame labels (see the module docstring for the format).

    Args:
        path: target file; a `.json` result path is turned into its `.scores.npz` sibling.
        video_names: V video ids.
        snippet_scores: V 1-D arrays/tensors (T_v,) of scores (padding already removed).
        frame_labels: V 1-D arrays/tensors (L_v,) of 0/1 labels, L_v <= T_v * frames_per_snippet
            (padding such as -1 already removed).
        frames_per_snippet: F.
    """
    path = Path(path)
    if path.name.endswith(".json"):
        path = scores_path_for(path)
    names = [str(n) for n in video_names]
    if not (len(names) == len(snippet_scores) == len(frame_labels)):
        raise ValueError(f"save_scores({path}): got {len(names)} video names, {len(snippet_scores)} score "
                         f"arrays and {len(frame_labels)} label arrays; expected the same count")
    if frames_per_snippet < 1:
        raise ValueError(f"save_scores({path}): frames_per_snippet must be >= 1, got {frames_per_snippet}")
    scores = [_as_numpy(s).astype(np.float32).reshape(-1) for s in snippet_scores]
    labels = [_as_numpy(l).reshape(-1) for l in frame_labels]
    for name, s, lab in zip(names, scores, labels):
        _check_video(path, name, s, lab, frames_per_snippet)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        version=np.int64(SCORES_VERSION),
        video_names=np.array(names, dtype=str),
        frames_per_snippet=np.int64(frames_per_snippet),
        snippet_scores=np.concatenate(scores) if scores else np.zeros(0, np.float32),
        snippet_offsets=np.cumsum([0] + [len(s) for s in scores]).astype(np.int64),
        frame_labels=(np.concatenate(labels) if labels else np.zeros(0)).astype(np.int8),
        frame_offsets=np.cumsum([0] + [len(l) for l in labels]).astype(np.int64),
    )
    return path


def _check_video(path, name, scores: np.ndarray, labels: np.ndarray, fps: int) -> None:
    if scores.size == 0:
        raise ValueError(f"{path}: video {name!r} has no snippet scores")
    if not np.isfinite(scores).all():
        raise ValueError(f"{path}: video {name!r} has non-finite scores (NaN/inf)")
    if labels.size > scores.size * fps:
        raise ValueError(f"{path}: video {name!r} has {labels.size} frame labels but only {scores.size} snippets "
                         f"x {fps} frames = {scores.size * fps}; expected at most that many labels")
    bad = ~np.isin(labels, (0, 1))
    if bad.any():
        raise ValueError(f"{path}: video {name!r} has frame labels other than 0/1 (e.g. {labels[bad][0]})")


@dataclass
class VideoScores:
    name: str
    snippet_scores: np.ndarray  # (T,)
    frame_labels: np.ndarray    # (L,)
    frames_per_snippet: int

    @property
    def frame_scores(self) -> np.ndarray:
        """(L,) the snippet scores repeated over their frames, cut to the label length."""
        return np.repeat(self.snippet_scores, self.frames_per_snippet)[: len(self.frame_labels)]


@dataclass
class ScoreFile:
    path: Path
    videos: list[VideoScores]

    def frames(self) -> tuple[np.ndarray, np.ndarray]:
        """All frames of all videos concatenated (the micro-AUC protocol): (scores, labels)."""
        if not self.videos:
            return np.zeros(0, np.float32), np.zeros(0, np.int8)
        return (np.concatenate([v.frame_scores for v in self.videos]),
                np.concatenate([v.frame_labels for v in self.videos]))

    def video(self, name: str) -> VideoScores:
        for v in self.videos:
            if v.name == name or Path(v.name).stem == name:
                return v
        raise KeyError(f"{self.path}: no video named {name!r}; it holds {[v.name for v in self.videos][:10]}...")


def load_scores(path: str | Path) -> ScoreFile:
    """Read a scores file written by `save_scores`, checking its layout (errors name the file)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"scores file {path} is not a readable .npz archive: {err}") from err
    need = ("version", "video_names", "frames_per_snippet", "snippet_scores", "snippet_offsets",
            "frame_labels", "frame_offsets")
    missing = [k for k in need if k not in data]
    if missing:
        raise ValueError(f"scores file {path} lacks array(s) {missing}; expected {list(need)}")
    if int(data["version"]) != SCORES_VERSION:
        raise ValueError(f"scores file {path} has version {int(data['version'])}; expected {SCORES_VERSION}")
    names = [str(n) for n in data["video_names"]]
    so, fo = data["snippet_offsets"], data["frame_offsets"]
    v = len(names)
    if len(so) != v + 1 or len(fo) != v + 1 or so[-1] != len(data["snippet_scores"]) or fo[-1] != len(data["frame_labels"]):
        raise ValueError(f"scores file {path}: offsets do not match {v} videos / array lengths")
    fps = int(data["frames_per_snippet"])
    videos = []
    for i, name in enumerate(names):
        s = data["snippet_scores"][so[i]:so[i + 1]].astype(np.float64)
        lab = data["frame_labels"][fo[i]:fo[i + 1]].astype(np.int64)
        _check_video(path, name, s, lab, fps)
        videos.append(VideoScores(name, s, lab, fps))
    return ScoreFile(path, videos)
