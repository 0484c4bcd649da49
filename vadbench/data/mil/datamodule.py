"""LightningDataModule for weakly supervised MIL over snippet features.

Reads the community's files as they are, in any of the feature layouts (`vadbench.data.mil.layouts`:
RTFM's stacked `<video><suffix>`, Wu et al.'s per-crop `<video>__<c>.npy`, single-view `[T, D]`)
anywhere under `root` (found by file name, so lists holding other machines' absolute paths work),
split lists from the manifest or from the user's official `.list` files (per-crop lists collapsed to
videos), and the official test annotations.
The constructor stores settings only; all I/O happens in `prepare_data` / `setup`.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from pathlib import Path
from typing import Literal

import lightning as L
import torch
from torch.utils.data import DataLoader

from vadbench.data.manifest import SplitEntry, check_unique_entries, manifest_split, video_name_from_list_line
from vadbench.data.mil.annotations import FrameNumbering, GroundTruth, GroundTruthError, read_ground_truth
from vadbench.data.mil.dataset import (BalancedPairDataset, FullVideoDataset, SegmentDataset, VideoRecord,
                                       collate_pairs, collate_videos)
from vadbench.data.mil.features import FeatureFileError, read_header, release_free_memory
from vadbench.data.mil.layouts import (FeatureLayout, VideoFiles, check_layout_options, collapse_crop_list,
                                       is_crop_file, read_video_header, resolve_video_files)
from vadbench.data.mil.validation import ExtractionFacts, read_sidecar, scan_finite
from vadbench.data.samplers import EpochForwardingSampler, ResumableDataLoader, eval_sampler_for
from vadbench.errors import ConfigError, DataError, not_a_file
from vadbench.paths import default_data_home

GT_FORMATS = {"ucf_crime": "ucf_temporal_txt", "synthetic": "ucf_temporal_txt",
              "shanghaitech": "shanghaitech_masks", "ucsd_ped2": "ucsd_m", "xd_violence": "xd_annotation"}
GT_DEFAULT_NAMES = {"ucf_temporal_txt": ["Temporal_Anomaly_Annotation_for_Testing_Videos.txt", "Matlab_formate",
                                         "UCF_Annotation.txt"],
                    "shanghaitech_masks": ["test_frame_mask"], "ucsd_m": ["UCSDped2.m", "ped2.mat"],
                    "xd_annotation": ["XD_Annotation.txt", "annotations.txt"]}
Validation = Literal["none", "train_split", "oracle_test"]
MODEL_SELECTION = {"none": "last", "train_split": "best_val", "oracle_test": "oracle_best_on_test"}


class MILFeatureDataModule(L.LightningDataModule):
    """Snippet-feature MIL data: UCF-Crime, ShanghaiTech, UCSD Ped2, XD-Violence or the generated synthetic set.

    Args:
        dataset: dataset id (`ucf_crime`, `shanghaitech`, `ucsd_ped2`, `xd_violence`, `synthetic`).
        root: folder holding the feature files (searched recursively). For `synthetic`, where the
            generated set lives (default `$VADBENCH_HOME/synthetic_mil_<settings digest>`, generated
            on first use; $VADBENCH_HOME defaults to ~/.cache/vadbench). A folder written by
            `vadbench synth mil` works with any dataset id of its layout: its own `train.list` /
            `test.list` are then the default splits and results say `data_source: synthetic`.
        train_list, test_list: optional official `.list` files (one path per line, any OS; per-crop
            lists, one `<video>__<c>.npy` per line, are collapsed to videos) or `<name> <label>` split
            files; default: the manifest's pinned split.
        annotations: test ground truth (UCF txt or `.mat` folder, ShanghaiTech `test_frame_mask/`,
            UCSD `.m`/`.mat`, XD-Violence `XD_Annotation.txt`); default: searched under `root` by its
            official name.
        feature_layout: `stacked` (`<video><feature_suffix>`, `[T, crops, D]` or `[T, D]`), `per_crop`
            (`<video>__<c>.npy`, c = 0..crops-1, each `[T, D]`, read as one `[T, crops, D]`) or
            `single_view` (`[T, D]` files read as `[T, 1, D]`). See `vadbench.data.mil.layouts`.
        crops: the number of crops per video: the crop files expected in `per_crop` (None = as many
            as there are from crop 0 on, the same for every video), the crop axis checked in `stacked`.
        feature_suffix: file name suffix after the video name (stacked and single_view layouts).
        patch_scales: patch feature sets to load beside the clip features, e.g. `["patch23"]` reads
            `<video>_patch23<feature_suffix>` of shape `[T, P, D]`.
        feature_dim: expected feature dim D (checked on every file); None = read it from the data.
        num_segments: training videos are reduced to this many segments (official: 32).
        frames_per_snippet: frames between consecutive feature vectors (16 for the community's I3D/C3D
            files). None = a data fact: the snippet stride recorded in the extraction sidecars
            (`<file>.json`, written by `vadbench extract`), else 16. A value that disagrees with the
            sidecars is an error. The test batches carry it, so the evaluation builds frame labels
            and frame scores with the data's value.
        extraction: sidecar settings the feature files must have been extracted with, e.g.
            `{backbone: i3d_r50, crop: ten}` (keys of `vadbench.data.mil.validation.EXTRACTION_KEYS`);
            a file whose sidecar disagrees is refused. Files without a sidecar are not checked.
        batch_size: videos *per class* in a training batch (paper: 32 normal + 32 anomalous).
        iterations_per_epoch: training batches per epoch (default: one pass over the larger class).
        test_batch_size: test videos per batch (padded and masked when > 1).
        num_workers: loader worker processes (0 = load in the training process; each training
            video costs ~2 ms to read and reduce, so 0-2 workers keep a GPU step fed).
        pin_memory: page-locked batches for asynchronous host-to-GPU copies; None (default) = on
            when the trainer runs on a CUDA device.
        validation: model selection. `none`: test the last weights; `train_split`: hold out
            `val_fraction` of the training videos and select on video-level AUC; `oracle_test`: the
            papers' protocol, selecting on the test set (results are labelled as such).
        synthetic: options of the generated dataset (see `vadbench.data.synthetic.SyntheticMILConfig`).
        ucf_frame_numbering: how the UCF-Crime annotation's frame numbers are read: `1-based` (the
            file's numbering; Sultani's evaluation) or `0-based` (RTFM's `gt-ucf.npy`, behind the
            RTFM / SSRL / MSIP numbers); see `vadbench.data.mil.annotations`. Recorded in the config.
    """

    def __init__(
        self,
        dataset: str = "synthetic",
        root: str | None = None,
        train_list: str | None = None,
        test_list: str | None = None,
        annotations: str | None = None,
        feature_suffix: str = "_i3d.npy",
        feature_layout: FeatureLayout = "stacked",
        crops: int | None = None,
        patch_scales: list[str] | None = None,
        feature_dim: int | None = None,
        num_segments: int = 32,
        frames_per_snippet: int | None = None,
        batch_size: int = 32,
        iterations_per_epoch: int | None = None,
        test_batch_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool | None = None,
        validation: Validation = "none",
        val_fraction: float = 0.1,
        seed: int = 0,
        synthetic: dict | None = None,
        extraction: dict | None = None,
        ucf_frame_numbering: FrameNumbering = "1-based",
    ):
        super().__init__()
        if dataset not in GT_FORMATS:
            raise ConfigError(f"unknown MIL dataset {dataset!r}; expected one of {sorted(GT_FORMATS)}")
        self.dataset_id = dataset
        self.root = root
        self.train_list, self.test_list, self.annotations = train_list, test_list, annotations
        self.feature_suffix = feature_suffix
        check_layout_options(feature_layout, crops)
        self.feature_layout, self.crops = feature_layout, crops
        self.patch_scales = list(patch_scales or [])
        self._feature_dim = feature_dim
        self.num_segments, self._frames_per_snippet = num_segments, frames_per_snippet
        self._configured_frames_per_snippet = frames_per_snippet
        self.extraction = dict(extraction or {})
        self.batch_size, self.test_batch_size = batch_size, test_batch_size
        self.iterations_per_epoch = iterations_per_epoch
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.validation, self.val_fraction, self.seed = validation, val_fraction, seed
        self.synthetic = dict(synthetic or {})
        self.ucf_frame_numbering = ucf_frame_numbering
        self._index: dict[str, Path] | None = None
        self.splits: dict[str, list[VideoRecord]] = {}
        self.ground_truth: GroundTruth | None = None
        self.fingerprint: str | None = None
        self.facts = ExtractionFacts()
        self._checked: set[str] = set()  # splits whose files were all validated in this process

    # ------------------------------------------------------------------ locations
    @property
    def data_source(self) -> str:
        return "synthetic" if self.dataset_id == "synthetic" or self._synthetic_root else "real"

    @property
    def _synthetic_root(self) -> bool:
        """A folder written by `vadbench synth mil` given as the root of a real dataset id."""
        return self.root is not None and (Path(self.root).expanduser() / "synthetic.json").is_file()

    @property
    def model_selection(self) -> str:
        return MODEL_SELECTION[self.validation]

    @property
    def root_dir(self) -> Path:
        if self.root is not None:
            return Path(self.root).expanduser()
        if self.dataset_id == "synthetic":
            return default_data_home() / f"synthetic_mil_{self._synthetic_config().digest()}"
        raise ConfigError(f"dataset {self.dataset_id!r} has no data root: set --data.init_args.root DIR (the folder "
                          f"holding its feature files; `vadbench data info {self.dataset_id}` says what it holds)")

    def _synthetic_config(self):
        from vadbench.data.synthetic import SyntheticMILConfig

        cfg = {"seed": self.seed, **self.synthetic}
        if self._feature_dim is not None:
            cfg.setdefault("feature_dim", self._feature_dim)
        if self.crops is not None:
            cfg.setdefault("crops", self.crops)
        return SyntheticMILConfig(**cfg)

    def prepare_data(self) -> None:
        if self.dataset_id == "synthetic":
            from vadbench.data.synthetic import ensure_synthetic_mil

            if self.root is not None and (self.root_dir / "synthetic.json").is_file():
                return  # a set the user wrote with `vadbench synth`: use it as it is
            ensure_synthetic_mil(self.root_dir, self._synthetic_config())
        elif not self.root_dir.is_dir():
            raise DataError(f"feature folder {self.root_dir} for dataset {self.dataset_id!r} does not exist")

    @property
    def feature_dim(self) -> int:
        """D, from the config or read from the first test file's header (used to size the model)."""
        if self._feature_dim is None:
            self.prepare_data()
            entries = self._split_entries("test")
            if not entries:
                raise DataError(f"{self.dataset_id} test split has no video ({self._list_name('test')})")
            self._feature_dim = self._header(self._video_files(entries[0].name)).dim
        return self._feature_dim

    @property
    def frames_per_snippet(self) -> int:
        """F, frames per feature vector: the config's value, else the sidecars' snippet stride, else 16."""
        if self._frames_per_snippet is None:
            self.prepare_data()
            if self.facts.source is None:  # read the first test file's sidecar (setup reads all of them)
                entries = self._split_entries("test")
                if entries:
                    path = self._video_files(entries[0].name).path
                    self.facts.add(path, read_sidecar(path))
            self._frames_per_snippet = self.facts.frames_per_snippet or self._default_frames_per_snippet()
        return self._frames_per_snippet

    @frames_per_snippet.setter
    def frames_per_snippet(self, value: int | None) -> None:
        self._frames_per_snippet = self._configured_frames_per_snippet = value

    def _default_frames_per_snippet(self) -> int:
        if self.dataset_id == "synthetic":
            return int(self.synthetic.get("frames_per_snippet", 16))
        return 16

    def _user_list(self, split: str) -> str | None:
        """The split's list file: the user's, else a synthetic set's own (`<root>/<split>.list`), else None
        (the manifest's pinned split)."""
        user_list = {"train": self.train_list, "test": self.test_list}[split]
        if user_list is None and (self.dataset_id == "synthetic" or self._synthetic_root):
            return str(self.root_dir / f"{split}.list")
        return user_list

    def _list_name(self, split: str) -> str:
        user_list = self._user_list(split)
        return str(user_list) if user_list else f"data_manifests/{self.dataset_id}/{split}.txt"

    def _file_index(self) -> dict[str, Path]:
        if self._index is None:
            index: dict[str, Path] = {}
            for p in sorted(self.root_dir.rglob("*.npy")):
                index.setdefault(p.name, p)
            self._index = index
        return self._index

    def _resolve(self, name: str, suffix: str) -> Path:
        path = self._file_index().get(name + suffix)
        if path is None:
            raise FeatureFileError(f"feature file {name + suffix} not found under {self.root_dir}")
        return path

    def _video_files(self, name: str) -> VideoFiles:
        """A video's clip feature file(s) in the configured layout; raises naming a missing file."""
        return resolve_video_files(self._file_index(), self.root_dir, name, self.feature_layout,
                                   self.feature_suffix, self.crops)

    def _header(self, files: VideoFiles):
        return read_video_header(files, self.feature_layout, self._feature_dim, self.crops)

    # ------------------------------------------------------------------ splits
    def _split_entries(self, split: str) -> list[SplitEntry]:
        user_list = self._user_list(split)
        if user_list is None:
            return manifest_split(self.dataset_id, split)
        path = Path(user_list).expanduser()
        if not path.is_file():
            raise DataError(f"{split} list {path} {not_a_file(path)} (`data.init_args.{split}_list`)")
        lines = [l.strip() for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
        if lines and all(len(l.split()) == 2 and l.split()[1] in {"0", "1"} for l in lines):
            entries = [SplitEntry(l.split()[0], int(l.split()[1])) for l in lines]
        else:
            if lines and all(is_crop_file(l) for l in lines):
                names = self._videos_of_crop_list(lines, path)   # a repeated crop file is refused there
            else:
                if self.feature_layout == "per_crop" and lines:
                    bad = next(l for l in lines if not is_crop_file(l))
                    raise DataError(f"{path}: {bad!r} is not a per-crop feature file <video>__<c>.npy, but "
                                    f"data.init_args.feature_layout is per_crop (one crop file per list line)")
                names = [video_name_from_list_line(l, self.feature_suffix) for l in lines]
            entries = [SplitEntry(n, self._label_of(n, split, path)) for n in names]
        check_unique_entries((e.name for e in entries), path)   # one video per entry: a repeat is an error
        return entries

    def _videos_of_crop_list(self, lines: list[str], path: Path) -> list[str]:
        """An official per-crop list (one `<video>__<c>.npy` per line) -> its videos, checked against `crops`."""
        if self.feature_layout != "per_crop":
            raise DataError(f"{path} lists per-crop feature files (<video>__<c>.npy, e.g. {lines[0]!r}) but "
                            f"data.init_args.feature_layout is {self.feature_layout}; set it to per_crop")
        videos = collapse_crop_list(lines, path)
        listed = len(videos[0][1]) if videos else None
        if self.crops is not None and listed is not None and listed != self.crops:
            raise ConfigError(f"{path} lists {listed} crop files per video but data.init_args.crops = {self.crops}")
        return [v for v, _ in videos]

    def _label_of(self, name: str, split: str, list_path: Path) -> int:
        """Video label from the manifest, or from the dataset's naming rule; never from list position.

        UCF-Crime: normal videos are named `Normal_Videos*`; XD-Violence: normal videos carry `_label_A`
        (the official rule, `make_gt.py`); the synthetic sets follow the layout they imitate."""
        if self.dataset_id == "xd_violence":
            return 0 if "_label_A" in name else 1
        if self.dataset_id in ("ucf_crime", "synthetic"):
            return 0 if name.startswith("Normal") or "_label_A" in name else 1
        known = {e.name: e.label for s in ("train", "test") for e in manifest_split(self.dataset_id, s)}
        if name not in known:
            raise DataError(f"{list_path}: video {name!r} is not in the {self.dataset_id} manifest, so its "
                             f"label is unknown; give a '<name> <label>' split file instead")
        return known[name]

    def _records(self, split: str, check: bool = True) -> list[VideoRecord]:
        """The split's videos. check=True: every file is read in full now (NaN/Inf scan of the memory
        map, shape, dim, sidecar); check=False (fingerprint of a split this stage does not read):
        headers only, unreadable files skipped."""
        entries = self._split_entries(split)
        if not entries and check:
            raise DataError(f"{self.dataset_id} {split} split is empty: {self._list_name(split)} lists no video")
        missing, records, dims, views = [], [], set(), {}
        for e in entries:
            try:
                files = self._video_files(e.name)
                head = self._header(files)
                path = files.path
                num_frames = None
                if check:
                    for crop_path in files.paths:
                        scan_finite(crop_path)
                        meta = read_sidecar(crop_path)
                        self.facts.add(crop_path, meta)
                        if meta is not None and isinstance(meta.get("video", {}).get("frames"), int):
                            num_frames = meta["video"]["frames"]
                patch_paths = {}
                for scale in self.patch_scales:
                    pp = self._resolve(e.name, f"_{scale}{self.feature_suffix}")
                    ph = read_header(pp, head.dim, what="[T, P, D]")
                    if ph.num_snippets != head.num_snippets:
                        raise FeatureFileError(f"patch feature file {pp}: T = {ph.num_snippets} but the clip "
                                               f"features {path} have T = {head.num_snippets}")
                    if check:
                        scan_finite(pp)
                        self.facts.add(pp, read_sidecar(pp), clip=False)
                    patch_paths[scale] = pp
            except FeatureFileError as err:
                if not check:
                    continue
                missing.append(str(err))
                continue
            dims.add(head.dim)
            views.setdefault(head.num_views, path)
            records.append(VideoRecord(e.name, e.label, path, head.num_snippets, patch_paths, num_frames,
                                       files.paths if files.per_crop else ()))
        if missing:
            shown = "\n  ".join(missing[:20])
            more = f"\n  ... and {len(missing) - 20} more" if len(missing) > 20 else ""
            raise FeatureFileError(f"{self.dataset_id} {split} split: {len(missing)} of {len(entries)} listed videos "
                                   f"have missing or invalid feature files:\n  {shown}{more}")
        if len(dims) > 1 and check:
            raise FeatureFileError(f"{self.dataset_id} {split} split: feature files disagree on the feature dim: {sorted(dims)}")
        if len(views) > 1 and check:
            shown = ", ".join(f"{n} in {p}" for n, p in sorted(views.items()))
            raise FeatureFileError(f"{self.dataset_id} {split} split: videos have different numbers of crops ({shown}); "
                                   f"set data.init_args.crops to the number every video has")
        return records

    def _check_config_against_sidecars(self) -> None:
        """Refuse config values that disagree with what the extraction sidecars record."""
        facts = self.facts
        facts.check_config("data.init_args.frames_per_snippet", self._configured_frames_per_snippet, "stride")
        facts.check_config("data.init_args.feature_dim", self._feature_dim, "feature_dim")
        for key, value in self.extraction.items():
            from vadbench.data.mil.validation import EXTRACTION_KEYS

            if key not in EXTRACTION_KEYS:
                raise ConfigError(f"data.init_args.extraction: unknown key {key!r}; expected one of {list(EXTRACTION_KEYS)}")
            facts.check_config(f"data.init_args.extraction.{key}", value, key)
        if facts.settings.get("fps") is not None:
            raise ConfigError(f"the feature files were extracted at --fps {facts.settings['fps']} (resampled; sidecar "
                              f"{facts.source}), but the {self.dataset_id} ground truth numbers the source frames, "
                              f"so frame labels would be misaligned; re-extract at the native frame rate (no --fps)")
        if self._frames_per_snippet is None or self._configured_frames_per_snippet is None:
            self._frames_per_snippet = facts.frames_per_snippet or self._default_frames_per_snippet()

    def _gt_format(self) -> str:
        """The annotation format: the dataset's; a synthetic set's follows the layout it imitates."""
        if self.dataset_id != "synthetic":
            return GT_FORMATS[self.dataset_id]
        from vadbench.data.synthetic import annotation_format

        return annotation_format(self.root_dir, self._synthetic_config())

    def _load_ground_truth(self) -> GroundTruth:
        fmt = self._gt_format()
        if self.annotations is not None:
            return read_ground_truth(fmt, Path(self.annotations).expanduser(), self.ucf_frame_numbering)
        for cand in GT_DEFAULT_NAMES[fmt]:
            found = [self.root_dir / cand] if (self.root_dir / cand).exists() else sorted(self.root_dir.rglob(cand))
            if found:
                return read_ground_truth(fmt, found[0], self.ucf_frame_numbering)
        raise DataError(f"no {self.dataset_id} test annotations given (`data.init_args.annotations`) "
                                f"and none of {GT_DEFAULT_NAMES[fmt]} found under {self.root_dir}")

    def _stage_splits(self, stage: str | None) -> set[str]:
        """The splits a stage reads. fit tests afterwards (`--run_test`), so it checks test files too."""
        if stage in ("test", "predict"):
            return {"test"}
        if stage == "validate" and self.validation != "train_split":
            return {"test"} if self.validation == "oracle_test" else set()
        return {"train", "test"}

    def setup(self, stage: str | None = None) -> None:
        """Validate every file `stage` will read (all of them, before the first step), then build splits."""
        need = self._stage_splits(stage)
        if self.splits and need <= self._checked:
            return
        self.prepare_data() if self.dataset_id == "synthetic" else None
        self.facts = ExtractionFacts()
        train = self._records("train", check="train" in need)
        test = self._records("test", check="test" in need)
        self._check_config_against_sidecars()
        if "train" in need:
            for label, what in ((0, "normal"), (1, "anomalous")):
                if not any(v.label == label for v in train):
                    raise DataError(f"{self.dataset_id} train split ({self._list_name('train')}) has no {what} "
                                    f"video; balanced MIL training needs both classes")
        if self.validation == "train_split":
            rng = random.Random(self.seed)
            val = []
            for label in (0, 1):
                cls = [v for v in train if v.label == label]
                val += rng.sample(cls, max(1, math.ceil(self.val_fraction * len(cls))))
            val_names = {v.name for v in val}
            train = [v for v in train if v.name not in val_names]
            self.splits["val"] = val
        self.splits["train"], self.splits["test"] = train, test
        if "test" in need or self.validation == "oracle_test":
            self.ground_truth = self._load_ground_truth()
            labels_seen = set()
            for v in test:  # check every annotation against its feature length now, not mid-evaluation
                labels = self.ground_truth.frame_labels(v.name, v.num_snippets, self.frames_per_snippet)
                labels_seen.update(labels[:1].tolist() + labels[-1:].tolist() + ([1] if labels.any() else []))
                if v.label == 1 and not self.ground_truth.is_anomalous(v.name):
                    raise GroundTruthError(f"{self.ground_truth.source}: anomalous test video {v.name} has no annotation")
            if labels_seen != {0, 1}:
                raise DataError(f"{self.dataset_id} test split ({self._list_name('test')}): frame-level AUC needs both "
                                f"normal and anomalous frames, but all {len(test)} test videos have only label "
                                f"{sorted(labels_seen)} under {self.ground_truth.source}")
        self._checked = need | self._checked
        h = hashlib.sha256()
        for split in sorted(self.splits):
            for v in self.splits[split]:
                size = sum(p.stat().st_size for p in (v.crop_paths or (v.path,)))
                h.update(f"{split}:{v.name}:{v.label}:{v.num_snippets}:{size}\n".encode())
        self.fingerprint = "sha256:" + h.hexdigest()

    # ------------------------------------------------------------------ loaders
    def _loader_kwargs(self, persistent: bool = True) -> dict:
        """Worker and pinning options shared by every loader (`num_workers`, `pin_memory`). The training
        loader's workers are not persistent: a fresh start each epoch sees the pair draw's new epoch."""
        pin = self.pin_memory
        if pin is None:
            accelerator = getattr(self.trainer, "accelerator", None) if self.trainer is not None else None
            pin = type(accelerator).__name__ == "CUDAAccelerator"
        return {"num_workers": self.num_workers, "persistent_workers": persistent and self.num_workers > 0,
                "pin_memory": pin}

    def _loader(self, dataset, batch_size, collate, sampler=None) -> DataLoader:
        # a private generator: iterating a loader must not draw from the global RNG (exact resume)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=False, collate_fn=collate,
                          drop_last=False, generator=torch.Generator().manual_seed(self.seed), **self._loader_kwargs())

    def on_before_batch_transfer(self, batch, dataloader_idx: int):
        # evaluation batches are whole videos of varying length: keep the heap from fragmenting
        if self.trainer is not None and not self.trainer.training:
            release_free_memory()
        return batch

    def train_dataloader(self) -> DataLoader:
        train = self.splits["train"]
        normal = SegmentDataset([v for v in train if v.label == 0], self.num_segments)
        abnormal = SegmentDataset([v for v in train if v.label == 1], self.num_segments)
        iters = self.iterations_per_epoch or max(1, math.ceil(max(len(normal), len(abnormal)) / self.batch_size))
        world = self.trainer.world_size if self.trainer is not None else 1
        pairs = BalancedPairDataset(normal, abnormal, num_pairs=iters * self.batch_size * world, seed=self.seed)
        rank = self.trainer.global_rank if self.trainer is not None else 0
        sampler = EpochForwardingSampler(pairs, num_replicas=world, rank=rank)
        # resumable: the checkpoint holds the position in the epoch (see vadbench.data.samplers)
        return ResumableDataLoader(pairs, batch_size=self.batch_size, sampler=sampler, drop_last=True,
                                   collate_fn=collate_pairs, generator=torch.Generator().manual_seed(self.seed),
                                   **self._loader_kwargs(persistent=False))

    def val_dataloader(self) -> DataLoader:
        if self.validation == "none":
            return []
        if self.validation == "oracle_test":
            ds = FullVideoDataset(self.splits["test"], self.ground_truth, self.frames_per_snippet)
        else:
            ds = FullVideoDataset(self.splits["val"], None, self.frames_per_snippet)
        return self._loader(ds, self.test_batch_size, collate_videos, eval_sampler_for(ds, self.trainer))

    def test_dataloader(self) -> DataLoader:
        ds = FullVideoDataset(self.splits["test"], self.ground_truth, self.frames_per_snippet)
        return self._loader(ds, self.test_batch_size, collate_videos, eval_sampler_for(ds, self.trainer))

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

    def run_facts(self) -> dict:
        """What this run's evaluation used (the result JSON's `run_facts`; a fact that is also a config
        option is written into the recorded config, see `vadbench.results.record_used_values`)."""
        f = self.frames_per_snippet
        if self._configured_frames_per_snippet is not None:
            source = "config (data.init_args.frames_per_snippet)"
        elif self.facts.frames_per_snippet is not None:
            source = f"extraction sidecars (snippet stride; {self.facts.source})"
        else:
            source = "default (no extraction sidecars)"
        facts = {"frames_per_snippet": f, "frames_per_snippet_from": source, "feature_dim": self.feature_dim}
        if GT_FORMATS[self.dataset_id] == "ucf_temporal_txt":   # UCF-Crime-style intervals: how they were read
            facts["ucf_frame_numbering"] = self.ucf_frame_numbering
        if self.ground_truth is not None:
            facts["ground_truth"] = os.path.abspath(self.ground_truth.source)
        return facts

    def result_metadata(self) -> dict:
        extras = {"frames_per_snippet": self.frames_per_snippet, **self.facts.as_metadata()}
        return {"dataset": self.dataset_id, "data_source": self.data_source, "data_fingerprint": self.fingerprint,
                "model_selection": self.model_selection, "extras": extras, "run_facts": self.run_facts()}
