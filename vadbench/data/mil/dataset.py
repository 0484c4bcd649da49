"""Plain torch datasets over snippet-feature files (no Lightning)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vadbench.data.mil.annotations import GroundTruth
from vadbench.data.mil.batch import MILBatch
from vadbench.data.mil.features import load_features, load_segments


@dataclass(frozen=True)
class VideoRecord:
    """One video of a split: its name, label, feature file and optional patch-feature files.

    num_frames: the video's real frame count when the extraction sidecar records it; frames past it
    (the padded tail of the last snippet) are then left out of the frame-level evaluation.
    crop_paths: the per-crop layout's files (`<video>__<c>.npy`, crop order); `path` is then crop 0.
    """

    name: str
    label: int
    path: Path
    num_snippets: int
    patch_paths: dict[str, Path] = field(default_factory=dict)
    num_frames: int | None = None
    crop_paths: tuple[Path, ...] = ()

    @property
    def source(self) -> Path | tuple[Path, ...]:
        """What `load_features` / `load_segments` read: the file, or the per-crop files."""
        return self.crop_paths or self.path


class SegmentDataset(Dataset):
    """Training view: each video reduced to `num_segments` segments (the official 32-segment rule)."""

    def __init__(self, videos: list[VideoRecord], num_segments: int = 32):
        self.videos = videos
        self.num_segments = num_segments

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> dict:
        v = self.videos[i]
        item = {
            "features": torch.from_numpy(load_segments(v.source, self.num_segments)),
            "label": v.label,
            "index": i,
        }
        item["patches"] = {k: torch.from_numpy(load_segments(p, self.num_segments))
                           for k, p in v.patch_paths.items()}
        return item


class BalancedPairDataset(Dataset):
    """Item i = (one normal, one anomalous) training video, drawn without replacement per pass.

    Indexing is a pure function of (seed, i), so batches are deterministic, identical with any number
    of workers, and a DistributedSampler over the item indices gives each rank different pairs.
    A DataLoader with batch_size=B over it yields the paper's B normal + B anomalous videos.
    """

    def __init__(self, normal: SegmentDataset, abnormal: SegmentDataset, num_pairs: int, seed: int = 0):
        if len(normal) == 0 or len(abnormal) == 0:
            raise ValueError(f"balanced MIL training needs both classes: {len(normal)} normal, "
                             f"{len(abnormal)} anomalous training videos")
        self.normal, self.abnormal, self.num_pairs, self.seed = normal, abnormal, num_pairs, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_pairs

    def _draw(self, n: int, i: int, stream: int) -> int:
        g = torch.Generator().manual_seed(hash((self.seed, self.epoch, stream, i // n)) & 0x7FFF_FFFF)
        return int(torch.randperm(n, generator=g)[i % n])

    def __getitem__(self, i: int) -> tuple[dict, dict]:
        return self.normal[self._draw(len(self.normal), i, 0)], self.abnormal[self._draw(len(self.abnormal), i, 1)]


class FullVideoDataset(Dataset):
    """Evaluation view: full-length features, with frame labels when ground truth is given."""

    def __init__(self, videos: list[VideoRecord], ground_truth: GroundTruth | None = None, frames_per_snippet: int = 16):
        self.videos = videos
        self.ground_truth = ground_truth
        self.frames_per_snippet = frames_per_snippet

    def __len__(self) -> int:
        return len(self.videos)

    def __getitem__(self, i: int) -> dict:
        v = self.videos[i]
        feats = torch.from_numpy(load_features(v.source))
        item = {"features": feats, "label": v.label, "index": i,
                "patches": {k: torch.from_numpy(load_features(p)) for k, p in v.patch_paths.items()}}
        if self.ground_truth is not None:
            labels = self.ground_truth.frame_labels(v.name, feats.shape[0], self.frames_per_snippet)
            if v.num_frames is not None and 0 < v.num_frames < len(labels):
                labels[v.num_frames:] = -1  # padded tail frames are not frames of the video: not scored
            item["frame_labels"] = torch.from_numpy(labels)
            item["frames_per_snippet"] = self.frames_per_snippet
        return item


def _pad_stack(tensors: list[torch.Tensor], value: float = 0.0) -> torch.Tensor:
    if len(tensors) == 1:  # one video per batch (the default test batch): a view, no copy
        return tensors[0][None]
    t_max = max(t.shape[0] for t in tensors)
    out = tensors[0].new_full((len(tensors), t_max) + tuple(tensors[0].shape[1:]), value)
    for j, t in enumerate(tensors):
        out[j, : t.shape[0]] = t
    return out


def collate_videos(items: list[dict]) -> MILBatch:
    """Stack videos, padding to the longest with a mask (frame labels padded with -1)."""
    feats = [it["features"] for it in items]
    lengths = torch.tensor([f.shape[0] for f in feats])
    mask = torch.arange(int(lengths.max()))[None, :] < lengths[:, None]
    frame_labels = None
    if "frame_labels" in items[0]:
        frame_labels = _pad_stack([it["frame_labels"] for it in items], value=-1)
    return MILBatch(
        features=_pad_stack(feats),
        labels=torch.tensor([it["label"] for it in items], dtype=torch.float32),
        mask=mask,
        video_index=torch.tensor([it["index"] for it in items], dtype=torch.long),
        frame_labels=frame_labels,
        patches={k: _pad_stack([it["patches"][k] for it in items]) for k in items[0]["patches"]},
        frames_per_snippet=items[0].get("frames_per_snippet"),
    )


def collate_pairs(pairs: list[tuple[dict, dict]]) -> MILBatch:
    """B (normal, anomalous) pairs -> a batch of B normal videos followed by B anomalous ones."""
    normal, abnormal = zip(*pairs)
    return collate_videos(list(normal) + list(abnormal))
