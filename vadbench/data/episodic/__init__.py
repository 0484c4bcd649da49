"""Episodic few-shot action recognition from raw videos (HMDB51, Kinetics-100, UCF-Crime v2, synthetic)."""

from vadbench.data.episodic.batch import FewShotBatch
from vadbench.data.episodic.datamodule import EpisodicVideoDataModule, MissingVideosError
from vadbench.data.episodic.dataset import ClipLoader, ClipRecord, EpisodeDataset
from vadbench.data.episodic.splits import VideoEntry, manifest_split, read_official_split
from vadbench.data.episodic.synthetic import SyntheticVideoConfig, ensure_synthetic_video, write_synthetic_video
from vadbench.data.episodic.video import VideoReader, VideoReadError

__all__ = [
    "ClipLoader", "ClipRecord", "EpisodeDataset", "EpisodicVideoDataModule", "FewShotBatch", "MissingVideosError",
    "SyntheticVideoConfig", "VideoEntry", "VideoReadError", "VideoReader", "ensure_synthetic_video",
    "manifest_split", "read_official_split", "write_synthetic_video",
]
