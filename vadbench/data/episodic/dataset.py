"""Plain torch datasets of the episodic pipeline: clips on disk, and episodes made of them.

`ClipLoader` turns one listed video into the model input `(T, 3, H, W)`: T frames sampled (TRX's
sampling, see `sampling.py`), decoded by seeking and resized to `frame_height`, then one random
`crop_size` crop and a random horizontal flip for the whole clip in training, or the centre crop
at test, normalised with the ImageNet mean and std.

`EpisodeDataset` is indexed by episode: item `i` is the `FewShotBatch` of episode i, a pure
function of (seed, epoch, i), so every DDP rank can draw its own episodes and a test episode is the
same on any number of processes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from vadbench.data.episodic.batch import FewShotBatch
from vadbench.data.episodic.sampling import TrainSampling, clip_timeline, sample_indices
from vadbench.data.episodic.video import VideoReader

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ClipRecord:
    """A video present on disk. `segments` (seconds) restrict sampling to annotated clips."""

    name: str
    path: Path
    class_index: int
    segments: tuple[tuple[float, float], ...] = ()


class ClipLoader:
    """Reads a clip as normalised frames `(T, 3, crop, crop)` (see the module docstring).

    Args:
        seq_len: frames per clip, T (8 in the papers).
        frame_height: frames are resized to this height on decode (aspect ratio kept; a frame
            narrower than `crop_size` is enlarged until the crop fits).
        crop_size: side of the square crop (random in training, centre at test).
        train_sampling: `trx` (official) or `segment` (TSN-style).
        flip: random horizontal flip of the whole clip in training.
    """

    def __init__(self, seq_len: int = 8, frame_height: int = 256, crop_size: int = 224,
                 train_sampling: TrainSampling = "trx", flip: bool = True,
                 mean: tuple[float, float, float] = IMAGENET_MEAN, std: tuple[float, float, float] = IMAGENET_STD):
        if crop_size > frame_height:
            raise ValueError(f"crop_size {crop_size} is larger than frame_height {frame_height}")
        self.seq_len, self.frame_height, self.crop_size = seq_len, frame_height, crop_size
        self.train_sampling, self.flip = train_sampling, flip
        self.mean = torch.tensor(mean).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(std).view(1, 3, 1, 1) * 255.0

    def frame_indices(self, record: ClipRecord, reader: VideoReader, rng: np.random.Generator | None) -> np.ndarray:
        if record.segments:
            timeline = clip_timeline(record.segments, reader.fps, reader.num_frames)
            return timeline[sample_indices(len(timeline), self.seq_len, rng, self.train_sampling)]
        return sample_indices(reader.num_frames, self.seq_len, rng, self.train_sampling)

    def __call__(self, record: ClipRecord, rng: np.random.Generator | None) -> torch.Tensor:
        """Training clip when `rng` is given (random frames, crop, flip), the fixed test clip otherwise."""
        with VideoReader(record.path) as reader:
            indices = self.frame_indices(record, reader, rng)
            frames = reader.read(indices, self.frame_height, min_width=self.crop_size)  # (T, H, W, 3)
        h, w = frames.shape[1:3]
        c = self.crop_size
        if rng is None:
            top, left = (h - c) // 2, (w - c) // 2
        else:
            top, left = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
        frames = frames[:, top:top + c, left:left + c]
        if rng is not None and self.flip and rng.random() < 0.5:
            frames = frames[:, :, ::-1]
        clip = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
        return (clip - self.mean) / self.std


class EpisodeDataset(Dataset):
    """Episodes over the clips of one split: item i = the `FewShotBatch` of episode i.

    Args:
        clips: the split's videos present on disk.
        way, shot, query: C classes, K support and Q query videos per class.
        num_episodes: length of the dataset (episodes per epoch, or test episodes).
        seed: episodes are a pure function of (seed, epoch, index).
        train: random frames/crop/flip (training) or fixed test clips.
        loader: reads a clip.
        with_frames: False sends video ids only (`support`/`query` None); the model then gets
            frames through `clip(video_id)` for videos it has not embedded yet.
    """

    def __init__(self, clips: list[ClipRecord], way: int, shot: int, query: int, num_episodes: int,
                 seed: int, train: bool, loader: ClipLoader, with_frames: bool = True):
        self.clips, self.way, self.shot, self.query = clips, way, shot, query
        self.num_episodes, self.seed, self.train = num_episodes, seed, train
        self.loader, self.with_frames = loader, with_frames
        self.epoch = 0
        by_class: dict[int, list[int]] = {}
        for i, clip in enumerate(clips):
            by_class.setdefault(clip.class_index, []).append(i)
        need = shot + query
        self.class_videos = {c: np.array(v) for c, v in sorted(by_class.items()) if len(v) >= need}
        self.eligible = np.array(sorted(self.class_videos))
        if len(self.eligible) < way:
            raise ValueError(f"{way}-way {shot}-shot episodes with {query} queries per class need {way} classes "
                             f"with at least {need} videos present; only {len(self.eligible)} of "
                             f"{len(by_class)} classes have that many")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_episodes

    def episode_rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch if self.train else 0, int(index)])

    def sample(self, index: int, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(classes (C,), support video ids (C*K,), query video ids (C*Q,)), class-major."""
        rng = rng or self.episode_rng(index)
        classes = rng.choice(self.eligible, size=self.way, replace=False)
        picks = np.stack([rng.choice(self.class_videos[c], size=self.shot + self.query, replace=False)
                          for c in classes])  # (C, K + Q): distinct videos per class
        return classes, picks[:, :self.shot].reshape(-1), picks[:, self.shot:].reshape(-1)

    def clip(self, video_id: int, rng: np.random.Generator | None = None) -> torch.Tensor:
        """Frames of one clip `(T, 3, H, W)`: training augmentation with `rng`, the fixed test clip without."""
        return self.loader(self.clips[int(video_id)], rng)

    def __getitem__(self, index: int) -> FewShotBatch:
        rng = self.episode_rng(index)
        classes, support_ids, query_ids = self.sample(index, rng)
        frame_rng = rng if self.train else None
        if self.with_frames:
            support = torch.stack([self.clip(v, frame_rng) for v in support_ids])
            query = torch.stack([self.clip(v, frame_rng) for v in query_ids])
        else:
            support = query = None
        labels = torch.arange(self.way)
        return FewShotBatch(
            support=support,
            support_labels=labels.repeat_interleave(self.shot),
            query=query,
            query_labels=labels.repeat_interleave(self.query),
            support_ids=torch.from_numpy(support_ids).long(),
            query_ids=torch.from_numpy(query_ids).long(),
            class_ids=torch.from_numpy(classes).long(),
            episode_index=torch.tensor(int(index)),
        )


def identity_collate(batch):
    """Episodes are whole batches (DataLoader `batch_size=None`): pass them through."""
    return batch
