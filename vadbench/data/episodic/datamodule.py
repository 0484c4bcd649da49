"""LightningDataModule of the episodic few-shot pipeline, reading raw videos with PyAV.

Datasets: `hmdb51` (ARN split 31/10/10 classes), `kinetics100` (CMN split 64/12/24, 100 videos a
class), `ucf_crime_v2` (ADNet's 15 anomaly classes; clips cut by the temporal annotations) and
`synthetic` (generated on demand in one of those layouts). Splits come from `data_manifests/`
unless `split_dir` names a folder of official files. Videos are found anywhere under `root` by
file name. Videos listed but absent are reported (log, and `result_metadata()['extras']`) and
episodes are drawn from the videos present; `require_all_videos=True` makes that an error.

Cross-dataset evaluation (SKPS-Net trains on Kinetics-100 and tests on UCF-Crime v2): set
`test_dataset` (and `test_root`, `test_split`).
The constructor stores settings only; all I/O happens in `prepare_data` / `setup`.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader

from vadbench.errors import ConfigError, DataError, VadbenchError

from vadbench.data.episodic.dataset import ClipLoader, ClipRecord, EpisodeDataset, identity_collate
from vadbench.data.episodic.sampling import TrainSampling
from vadbench.data.episodic.splits import (LAYOUTS, VIDEO_EXTENSIONS, VideoEntry, manifest_split,
                                           read_official_split, video_key)
from vadbench.data.manifest import check_unique_entries
from vadbench.data.episodic.synthetic import SyntheticVideoConfig, default_synthetic_root, ensure_synthetic_video
from vadbench.data.samplers import EpochForwardingSampler, ResumableDataLoader, eval_sampler_for

log = logging.getLogger("vadbench")
DATASETS = (*LAYOUTS, "synthetic")


class MissingVideosError(VadbenchError, FileNotFoundError):
    """Listed videos that are not under the data root."""


def index_video_files(root: Path, layout: str) -> dict[str, Path]:
    """Every video file under `root` (recursively) by its matching key (see `splits.video_key`)."""
    index: dict[str, Path] = {}
    for dirpath, _, files in sorted(os.walk(root, followlinks=True)):
        for name in sorted(files):
            if name.lower().endswith(VIDEO_EXTENSIONS):
                index.setdefault(video_key(layout, name), Path(dirpath) / name)
    return index


class EpisodicVideoDataModule(L.LightningDataModule):
    """C-way K-shot episodes of raw videos (see the module docstring).

    Args:
        dataset: training dataset id (`hmdb51`, `kinetics100`, `ucf_crime_v2`, `synthetic`).
        root: folder holding its videos (searched recursively). `synthetic`: where the generated
            set lives (default under `$VADBENCH_HOME`, generated if absent).
        split_dir: folder with official split files (TRX `*list03.txt`, ADNet JSON) instead of the
            manifest's pinned splits.
        test_dataset, test_root, test_split_dir: the test data when it differs from the training
            data (cross-dataset evaluation); default: the training dataset.
        train_split, val_split, test_split: split names (`ucf_crime_v2`: `train` = ADNet train_val,
            `test`, `all` = both).
        way, shot: C classes, K support videos per class.
        train_query, test_query: query videos per class in training / evaluation (TRX: 5 and 1;
            SKPS-Net: 3, or 2 at 10 shots).
        seq_len: frames per video (8).
        frame_height, crop_size: decoded frames are resized to this height, then cropped square.
        train_sampling: `trx` (official) or `segment` (TSN-style random frame per segment).
        flip: random horizontal flip in training.
        train_episodes: training episodes per epoch, over all ranks (each rank draws its own).
        val_episodes: validation episodes on the val split (0: no validation).
        test_episodes: test episodes (10,000 in the papers), split exactly across ranks.
        seed: training episodes depend on (seed, epoch, index); test_seed (default seed) fixes test episodes.
        require_all_videos: error (instead of a report) when listed videos are absent.
        synthetic: options of the generated dataset (`SyntheticVideoConfig`: layout, size, frames, ...).
    """

    def __init__(
        self,
        dataset: str = "synthetic",
        root: str | None = None,
        split_dir: str | None = None,
        test_dataset: str | None = None,
        test_root: str | None = None,
        test_split_dir: str | None = None,
        train_split: str = "train",
        val_split: str = "val",
        test_split: str = "test",
        way: int = 5,
        shot: int = 1,
        train_query: int = 5,
        test_query: int = 1,
        seq_len: int = 8,
        frame_height: int = 256,
        crop_size: int = 224,
        train_sampling: TrainSampling = "trx",
        flip: bool = True,
        train_episodes: int = 20000,
        val_episodes: int = 0,
        test_episodes: int = 10000,
        num_workers: int = 4,
        seed: int = 0,
        test_seed: int | None = None,
        require_all_videos: bool = False,
        synthetic: dict | None = None,
    ):
        super().__init__()
        for name in (dataset, test_dataset or dataset):
            if name not in DATASETS:
                raise ConfigError(f"unknown few-shot dataset {name!r}; expected one of {DATASETS}")
        self.dataset_id, self.root, self.split_dir = dataset, root, split_dir
        self.test_dataset_id = test_dataset or dataset
        self.test_root = test_root if test_dataset else (test_root or root)
        self.test_split_dir = test_split_dir if test_dataset else (test_split_dir or split_dir)
        self.train_split, self.val_split, self.test_split = train_split, val_split, test_split
        self.way, self.shot, self.train_query, self.test_query = way, shot, train_query, test_query
        self.seq_len, self.frame_height, self.crop_size = seq_len, frame_height, crop_size
        self.train_sampling, self.flip = train_sampling, flip
        self.train_episodes, self.val_episodes, self.test_episodes = train_episodes, val_episodes, test_episodes
        self.num_workers, self.seed = num_workers, seed
        self.test_seed = seed if test_seed is None else test_seed
        self.require_all_videos = require_all_videos
        self.synthetic = dict(synthetic or {})
        self.test_frames_in_batch = True  # a model with an embedding cache turns this off (ids only)
        self.clips: dict[str, list[ClipRecord]] = {}
        self.class_names: dict[str, list[str]] = {}
        self.report: dict[str, dict] = {}
        self.fingerprint: str | None = None
        self._datasets: dict[str, EpisodeDataset] = {}

    # ------------------------------------------------------------------ locations
    def _synthetic_cfg(self) -> SyntheticVideoConfig:
        opts = {"seed": self.seed, **self.synthetic}
        defaults = SyntheticVideoConfig()
        unknown = sorted(set(opts) - set(vars(defaults)))
        if unknown:
            raise ConfigError(f"unknown synthetic video options {unknown}; known: {sorted(vars(defaults))}")
        # values given on the command line arrive as strings: cast them to the field's type
        return SyntheticVideoConfig(**{k: type(getattr(defaults, k))(v) if isinstance(v, str) else v
                                       for k, v in opts.items()})

    def _layout(self, dataset: str) -> str:
        return self._synthetic_cfg().layout if dataset == "synthetic" else dataset

    def _root(self, dataset: str, root: str | None) -> Path:
        if root is not None:
            return Path(root).expanduser()
        if dataset == "synthetic":
            return default_synthetic_root(self._synthetic_cfg())
        raise ConfigError(f"dataset {dataset!r} has no data root: set --data.init_args.root DIR (test data: "
                          f"--data.init_args.test_root), the folder holding its videos (`vadbench data info "
                          f"{dataset}` says what it holds)")

    @property
    def data_source(self) -> str:
        return "synthetic" if self.test_dataset_id == "synthetic" else "real"

    def prepare_data(self) -> None:
        for dataset, root in ((self.dataset_id, self.root), (self.test_dataset_id, self.test_root)):
            if dataset == "synthetic":
                ensure_synthetic_video(self._root(dataset, root), self._synthetic_cfg())
            elif not self._root(dataset, root).is_dir():
                raise FileNotFoundError(f"video folder {self._root(dataset, root)} for dataset {dataset!r} does not exist")

    # ------------------------------------------------------------------ splits
    def _entries(self, dataset: str, root: Path, split_dir: str | None, split: str) -> list[VideoEntry]:
        layout = self._layout(dataset)
        if split_dir is not None:
            return read_official_split(layout, split_dir, split)
        if dataset == "synthetic":
            return read_official_split(layout, root, split)
        return manifest_split(dataset, split)

    def _clips(self, dataset: str, root_opt: str | None, split_dir: str | None, split: str, tag: str) -> list[ClipRecord]:
        root = self._root(dataset, root_opt)
        layout = self._layout(dataset)
        entries = self._entries(dataset, root, split_dir, split)
        where = split_dir if split_dir is not None else root if dataset == "synthetic" else f"data_manifests/{dataset}"
        if not entries:
            raise DataError(f"{dataset} split {split!r} lists no videos"
                            + (f" ({split_dir})" if split_dir is not None else f" (root {root})"))
        # each list file refuses a repeated line; here: two lines that are one video file (a video under two
        # classes, Kinetics names matched on the same YouTube id, ucf_crime_v2 `all` = train_val + test)
        check_unique_entries((video_key(layout, e.video) for e in entries), f"{dataset} {split} split ({where})")
        index = index_video_files(root, layout)
        classes = sorted({e.class_name for e in entries})
        class_index = {c: i for i, c in enumerate(classes)}
        clips, missing = [], []
        for e in entries:
            path = index.get(video_key(layout, e.video))
            if path is None:
                missing.append(e.name)
                continue
            clips.append(ClipRecord(e.name, path, class_index[e.class_name], e.segments))
        self.class_names[tag] = classes
        self.report[tag] = {"dataset": dataset, "split": split, "listed": len(entries), "present": len(clips),
                            "classes": len(classes)}
        if missing:
            shown = ", ".join(missing[:10]) + (f", ... ({len(missing) - 10} more)" if len(missing) > 10 else "")
            msg = (f"{dataset} {split} split: {len(missing)} of {len(entries)} listed videos "
                   f"({100 * len(missing) / len(entries):.1f}%) are not under {root}: {shown}")
            if self.require_all_videos:
                raise MissingVideosError(msg)
            log.warning("vadbench: %s; episodes are drawn from the %d present", msg, len(clips))
        if not clips:
            raise MissingVideosError(f"{dataset} {split} split: none of the {len(entries)} listed videos is under {root}")
        return clips

    def setup(self, stage: str | None = None) -> None:
        if self.clips:
            return
        if "synthetic" in (self.dataset_id, self.test_dataset_id):
            self.prepare_data()
        wanted = [("test", self.test_dataset_id, self.test_root, self.test_split_dir, self.test_split)]
        if stage in (None, "fit", "validate"):
            wanted.append(("train", self.dataset_id, self.root, self.split_dir, self.train_split))
            if self.val_episodes > 0:
                wanted.append(("val", self.dataset_id, self.root, self.split_dir, self.val_split))
        h = hashlib.sha256()
        for tag, dataset, root, split_dir, split in wanted:
            self.clips[tag] = self._clips(dataset, root, split_dir, split, tag)
            for c in self.clips[tag]:
                h.update(f"{tag}:{c.name}:{c.class_index}:{c.segments}:{c.path.stat().st_size}\n".encode())
        self.fingerprint = "sha256:" + h.hexdigest()

    def ensure_split(self, tag: str) -> None:
        """Load a split `setup` skipped for the current stage (e.g. train after a test-only setup)."""
        if tag not in self.clips:
            dataset, root, split_dir, split = {
                "train": (self.dataset_id, self.root, self.split_dir, self.train_split),
                "val": (self.dataset_id, self.root, self.split_dir, self.val_split),
                "test": (self.test_dataset_id, self.test_root, self.test_split_dir, self.test_split)}[tag]
            self.clips[tag] = self._clips(dataset, root, split_dir, split, tag)

    # ------------------------------------------------------------------ datasets
    def clip_loader(self, train: bool) -> ClipLoader:
        return ClipLoader(self.seq_len, self.frame_height, self.crop_size, self.train_sampling,
                          flip=self.flip and train)

    def episodes(self, tag: str) -> EpisodeDataset:
        """The episode dataset of a split (`train`, `val` or `test`), built once."""
        if tag not in self._datasets:
            self.ensure_split(tag)
            world = self.trainer.world_size if self.trainer is not None else 1
            if tag == "train":
                n = max(world, self.train_episodes - self.train_episodes % world)
                ds = EpisodeDataset(self.clips[tag], self.way, self.shot, self.train_query, n, self.seed,
                                    True, self.clip_loader(True))
            else:
                n = self.test_episodes if tag == "test" else self.val_episodes
                seed = self.test_seed if tag == "test" else self.test_seed + 1
                ds = EpisodeDataset(self.clips[tag], self.way, self.shot, self.test_query, n, seed,
                                    False, self.clip_loader(False))
            self._datasets[tag] = ds
        ds = self._datasets[tag]
        if tag == "test":
            ds.with_frames = self.test_frames_in_batch
        return ds

    @property
    def test_videos(self) -> EpisodeDataset:
        """Source of fixed test clips by video id: `test_videos.clip(video_id)` -> (T, 3, H, W)."""
        return self.episodes("test")

    def _loader(self, dataset: EpisodeDataset, sampler) -> DataLoader:
        # resumable (the checkpoint holds the position in the epoch; episodes are a function of
        # (seed, epoch, index)) and a private generator: iterating draws nothing from the global RNG
        return ResumableDataLoader(dataset, batch_size=None, sampler=sampler, collate_fn=identity_collate,
                                   num_workers=self.num_workers, persistent_workers=False,
                                   generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        ds = self.episodes("train")
        world = self.trainer.world_size if self.trainer is not None else 1
        rank = self.trainer.global_rank if self.trainer is not None else 0
        return self._loader(ds, EpochForwardingSampler(ds, num_replicas=world, rank=rank))

    def val_dataloader(self):
        if self.val_episodes <= 0:
            return []
        ds = self.episodes("val")
        return self._loader(ds, eval_sampler_for(ds, self.trainer))

    def test_dataloader(self) -> DataLoader:
        ds = self.episodes("test")
        return self._loader(ds, eval_sampler_for(ds, self.trainer))

    # ------------------------------------------------------------------ results
    def result_metadata(self) -> dict:
        extras = {"way": self.way, "shot": self.shot, "train_query": self.train_query, "test_query": self.test_query,
                  "test_episodes": self.test_episodes, "seq_len": self.seq_len, "frame_height": self.frame_height,
                  "crop_size": self.crop_size, "train_dataset": self.dataset_id, "test_split": self.test_split,
                  "videos": self.report}
        return {"dataset": self.test_dataset_id, "data_source": self.data_source,
                "data_fingerprint": self.fingerprint, "model_selection": "last", "extras": extras}
