"""Frame-level ground truth of the MIL test sets, read from the official files as they are.

Every reader returns a `GroundTruth`: for each anomalous test video either a list of frame
intervals (UCF-Crime, UCSD Ped2: 1-based inclusive; XD-Violence: 0-based, end exclusive) or a
per-frame mask (ShanghaiTech).
`frame_labels(name, num_snippets, frames_per_snippet)` then builds the labels of the
`frames_per_snippet * T` frames the features cover, and raises when the annotation does not fit.

Conventions (documented in the README):
- UCF-Crime `Temporal_Anomaly_Annotation_for_Testing_Videos.txt`: `name class s1 e1 s2 e2`, -1 = no
  interval; RTFM's `.mat` files hold the same intervals (uint8/uint16: cast before arithmetic).
  Frames s..e (1-based, inclusive) are anomalous by default (`frame_numbering="1-based"`: the file's
  own numbering, as Sultani's `Evaluate_Anomaly_Detector.m` reads it: the ground truth behind the
  Sultani numbers). `frame_numbering="0-based"` reproduces RTFM's `list/make_gt_ucf.py`, whose
  `gt-ucf.npy` is the ground truth behind the RTFM, SSRL and MSIP UCF-Crime numbers: s and e are
  0-based frame indices, frames s..e inclusive are anomalous (an interval ending at 16*T, which
  the script shortens by one, ends at the last frame either way). The two readings differ by one
  frame at each end of every interval (312 frame labels over the UCF-Crime test set).
  Wu et al.'s `UCF_Annotation.txt` (UR-DMU's list folder) holds the same intervals as
  `<Class>/<name>.mp4 <frames> <class> s1 e1 s2 e2`; it is read the same way.
- The features of a video of F frames have T = F // 16 (or ceil) snippets, so an interval may end a
  few frames past 16*T: up to `frames_per_snippet - 1` frames beyond are cut; more is an error.
- XD-Violence `XD_Annotation.txt` (Wu et al.'s `annotations.txt`): `<video> s1 e1 [s2 e2 ...]`, one
  line per violent test video. The official construction (`list/make_gt.py` of Roc-Ng/XDVioDet, whose
  `gt.npy` UR-DMU ships as `xd_gt.npy`) reads s, e as 0-based frame indices with e exclusive
  (`gt[s:e] = 1` over the video's frames), drops the last frame and then `(frames - 1) % 16` more, so
  the labels cover 16*T frames with T = (frames - 1) // 16 snippets, and frames past 16*T are cut.
  Here: labels[s:e] = 1 over the 16*T frames, the rest cut; an interval whose end lies more than
  2 * frames_per_snippet frames past 16*T (up to 16 frames no snippet covers, plus annotations that
  end a frame past the clip) means features and annotation disagree: an error. Normal videos
  (`_label_A`) have no line.
- ShanghaiTech masks: T must equal ceil(F / 16); the mask is padded with its last label to 16*T.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from vadbench.errors import VadbenchError


class GroundTruthError(VadbenchError, ValueError):
    pass


FrameNumbering = Literal["1-based", "0-based"]
FRAME_NUMBERINGS = ("1-based", "0-based")


@dataclass
class GroundTruth:
    source: str
    intervals: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    masks: dict[str, Path | np.ndarray] = field(default_factory=dict)
    frame_numbering: FrameNumbering = "1-based"   # how interval numbers are read (see module docstring)
    end_exclusive: bool = False                   # XD-Violence: [s, e) intervals, 0-based

    def is_anomalous(self, name: str) -> bool:
        return bool(self.intervals.get(name)) or name in self.masks

    def frame_labels(self, name: str, num_snippets: int, frames_per_snippet: int = 16) -> np.ndarray:
        n_frames = num_snippets * frames_per_snippet
        labels = np.zeros(n_frames, dtype=np.int64)
        if name in self.masks:
            mask = self.masks[name]
            if not isinstance(mask, np.ndarray):
                mask = _load_mask(mask)
            expected_t = math.ceil(len(mask) / frames_per_snippet)
            if expected_t != num_snippets:
                raise GroundTruthError(
                    f"{self.source}: video {name}: the frame mask has {len(mask)} frames, i.e. "
                    f"T = ceil({len(mask)}/{frames_per_snippet}) = {expected_t} snippets, but its features "
                    f"have T = {num_snippets}")
            labels[: len(mask)] = mask
            labels[len(mask):] = mask[-1] if len(mask) else 0
            return labels
        if self.end_exclusive:
            return self._exclusive_labels(name, labels, num_snippets, frames_per_snippet)
        first = 0 if self.frame_numbering == "0-based" else 1   # the number of the first frame
        for start, end in self.intervals.get(name, []):
            if start < first or end < start:
                raise GroundTruthError(f"{self.source}: video {name}: invalid interval [{start}, {end}]")
            if start > n_frames or end > n_frames + frames_per_snippet - 1:
                raise GroundTruthError(
                    f"{self.source}: video {name}: annotated frames [{start}, {end}] lie beyond the "
                    f"{n_frames} frames covered by its features (T = {num_snippets} snippets x "
                    f"{frames_per_snippet}); the features and the annotation disagree on the video length")
            labels[start - first: min(end + 1 - first, n_frames)] = 1
        return labels

    def _exclusive_labels(self, name: str, labels: np.ndarray, num_snippets: int, frames_per_snippet: int) -> np.ndarray:
        """XD-Violence: frames [s, e) of 0-based indices, cut to the 16*T frames (see module docstring)."""
        n_frames = len(labels)
        for start, end in self.intervals.get(name, []):
            if start < 0 or end < start:
                raise GroundTruthError(f"{self.source}: video {name}: invalid interval [{start}, {end})")
            if end > n_frames + 2 * frames_per_snippet:
                raise GroundTruthError(
                    f"{self.source}: video {name}: annotated frames [{start}, {end}) end more than "
                    f"{2 * frames_per_snippet} frames past the {n_frames} frames covered by its features "
                    f"(T = {num_snippets} snippets x {frames_per_snippet}); the features and the annotation "
                    f"disagree on the video length")
            labels[start: min(end, n_frames)] = 1
        return labels


def _load_mask(path: Path) -> np.ndarray:
    try:
        mask = np.load(path)
    except (OSError, ValueError) as err:
        raise GroundTruthError(f"frame mask {path} is not a readable .npy file: {err}") from err
    if mask.ndim != 1:
        raise GroundTruthError(f"frame mask {path}: expected a 1-D per-frame array, got shape {mask.shape}")
    return mask.astype(np.int64)


def read_ucf_temporal_txt(path: str | Path) -> GroundTruth:
    """`Abuse028_x264.mp4  Abuse  165  240  -1  -1` per line (Sultani's file), or Wu et al.'s
    `Abuse/Abuse028_x264.mp4  <frames>  Abuse  165  240  -1  -1` (UR-DMU's `UCF_Annotation.txt`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"UCF-Crime temporal annotation file not found: {path}")
    gt = GroundTruth(source=str(path))
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) == 7 and parts[1].isdigit():  # Wu et al.: name, frame count, class, intervals
            parts = parts[:1] + parts[2:]
        if len(parts) != 6:
            raise GroundTruthError(f"{path}:{lineno}: expected 'name class s1 e1 s2 e2' (or 'name frames class "
                                   f"s1 e1 s2 e2'), got {line!r}")
        name = re.sub(r"\.(mp4|avi|mkv)$", "", parts[0].replace("\\", "/").rsplit("/", 1)[-1])
        try:
            s1, e1, s2, e2 = (int(x) for x in parts[2:])
        except ValueError as err:
            raise GroundTruthError(f"{path}:{lineno}: non-integer frame numbers in {line!r}") from err
        gt.intervals[name] = [(s, e) for s, e in ((s1, e1), (s2, e2)) if s >= 0 and e >= 0]
    return gt


def read_xd_annotation(path: str | Path) -> GroundTruth:
    """XD-Violence `XD_Annotation.txt`: `<video> s1 e1 [s2 e2 ...]` per violent test video, [s, e) 0-based."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"XD-Violence annotation file not found: {path}")
    gt = GroundTruth(source=str(path), frame_numbering="0-based", end_exclusive=True)
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        name, numbers = re.sub(r"\.(mp4|avi|mkv)$", "", parts[0]), parts[1:]
        if not numbers or len(numbers) % 2:
            raise GroundTruthError(f"{path}:{lineno}: expected '<video> s1 e1 [s2 e2 ...]' (pairs of frame "
                                   f"numbers), got {line!r}")
        try:
            values = [int(x) for x in numbers]
        except ValueError as err:
            raise GroundTruthError(f"{path}:{lineno}: non-integer frame numbers in {line!r}") from err
        if name in gt.intervals:
            raise GroundTruthError(f"{path}:{lineno}: video {name} is annotated twice")
        gt.intervals[name] = list(zip(values[0::2], values[1::2]))
    if not gt.intervals:
        raise GroundTruthError(f"{path}: no annotated video")
    return gt


def read_ucf_mat_dir(path: str | Path) -> GroundTruth:
    """RTFM's `list/Matlab_formate/<video>.mat` files (struct Annotation_file: VideoName, Anno, EventName)."""
    from scipy.io import loadmat

    path = Path(path)
    files = sorted(path.glob("*.mat"))
    if not files:
        raise FileNotFoundError(f"no .mat annotation files in {path}")
    gt = GroundTruth(source=str(path))
    for f in files:
        try:
            ann = loadmat(f)["Annotation_file"][0, 0]
        except Exception as err:  # scipy raises several types on corrupt files
            raise GroundTruthError(f"{f}: not a UCF-Crime Annotation_file .mat: {err}") from err
        anno = np.asarray(ann["Anno"]).astype(np.int64).reshape(-1, 2)  # uint8/uint16 on disk: cast first
        gt.intervals[f.stem] = [(int(s), int(e)) for s, e in anno if s > 0 or e > 0]
    return gt


def read_shanghaitech_masks(path: str | Path) -> GroundTruth:
    """`test_frame_mask/<video>.npy`: uint8 per-frame labels of the anomalous videos."""
    path = Path(path)
    files = sorted(path.glob("*.npy"))
    if not files:
        raise FileNotFoundError(f"no ShanghaiTech frame masks (*.npy) in {path}")
    return GroundTruth(source=str(path), masks={f.stem: f for f in files})


def read_ucsd_intervals(path: str | Path, prefix: str = "Test") -> GroundTruth:
    """UCSD `UCSDped2.m` (`TestVideoFile{end+1}.gt_frame = [61:180];`) or HF2-VAD's `ped2.mat`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"UCSD annotation file not found: {path}")
    gt = GroundTruth(source=str(path))
    if path.suffix == ".m":
        found = re.findall(r"gt_frame\s*=\s*\[([^\]]*)\]", path.read_text(encoding="utf-8", errors="replace"))
        for i, body in enumerate(found, 1):
            ranges = []
            for chunk in body.replace(",", " ").split():
                a, _, b = chunk.partition(":")
                ranges.append((int(a), int(b or a)))
            gt.intervals[f"{prefix}{i:03d}"] = ranges
    else:
        from scipy.io import loadmat

        mat = loadmat(path)
        key = next((k for k in mat if not k.startswith("__")), None)
        if key is None:
            raise GroundTruthError(f"{path}: no variable in .mat file")
        for i, cell in enumerate(np.asarray(mat[key]).reshape(-1), 1):
            arr = np.asarray(cell).astype(np.int64).reshape(2, -1)  # rows: starts, ends (1-based)
            gt.intervals[f"{prefix}{i:03d}"] = [(int(s), int(e)) for s, e in arr.T]
    if not gt.intervals:
        raise GroundTruthError(f"{path}: no gt_frame intervals found")
    return gt


def read_ground_truth(fmt: str, path: str | Path, frame_numbering: FrameNumbering = "1-based") -> GroundTruth:
    """`frame_numbering` applies to the UCF-Crime intervals (see the module docstring)."""
    path = Path(path)
    if frame_numbering not in FRAME_NUMBERINGS:
        raise ValueError(f"frame_numbering must be one of {FRAME_NUMBERINGS}; got {frame_numbering!r}")
    if fmt == "ucf_temporal_txt":
        gt = read_ucf_mat_dir(path) if path.is_dir() else read_ucf_temporal_txt(path)
        gt.frame_numbering = frame_numbering
        return gt
    if fmt == "shanghaitech_masks":
        return read_shanghaitech_masks(path)
    if fmt == "ucsd_m":
        return read_ucsd_intervals(path)
    if fmt == "xd_annotation":
        return read_xd_annotation(path)
    raise ValueError(f"unknown ground-truth format {fmt!r}; expected ucf_temporal_txt, shanghaitech_masks, "
                     f"ucsd_m or xd_annotation")
