"""Checks the MIL datamodule runs on every file a stage will read, before the first training step.

- `scan_finite(path)`: a NaN/Inf scan of a memory-mapped feature file, in row chunks (no copy of
  the whole array; nothing is cached, so an edited file is scanned again on the next run).
- `read_sidecar(path)`: the JSON sidecar `vadbench extract` writes beside each feature file
  (`<file>.json`, see `vadbench.features.outputs`), or None when there is none.
- `ExtractionFacts`: what the sidecars of a split say (frames per snippet, feature dim, views,
  backbone, weights, ...); every file of a run must agree, and the config must agree with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vadbench.data.mil.features import FeatureFileError, open_features
from vadbench.errors import ConfigError, not_a_file

# Sidecar settings that describe what a feature vector is; they must be the same in every file of a
# run (clip features; patch files differ in their view/grid keys only).
SHARED_KEYS = ("backbone", "weights", "snippet_len", "stride", "tail", "fps", "source_fps", "normalisation",
               "resize_filter", "feature_dim")
# Sidecar settings a config may pin with `data.init_args.extraction: {key: value}`.
EXTRACTION_KEYS = SHARED_KEYS + ("crop", "crop_size", "resize", "views", "precision", "seed")

_CHUNK_BYTES = 64 << 20


def scan_finite(path: str | Path) -> None:
    """Raise FeatureFileError naming `path` and the first bad index when it holds NaN or Inf."""
    arr = open_features(path)
    row_bytes = max(1, int(np.prod(arr.shape[1:], dtype=np.int64)) * arr.dtype.itemsize)
    step = max(1, _CHUNK_BYTES // row_bytes)
    for start in range(0, arr.shape[0], step):
        chunk = np.asarray(arr[start:start + step])
        finite = np.isfinite(chunk)
        if not finite.all():
            bad = np.argwhere(~finite)[0]
            bad[0] += start
            raise FeatureFileError(f"feature file {path}: contains NaN/Inf (first at index "
                                   f"{tuple(int(i) for i in bad)}); re-extract it or remove it from the split")


def read_sidecar(path: str | Path) -> dict | None:
    """The extraction sidecar `<path>.json` as a dict, None when absent; a bad one is an error."""
    side = Path(str(path) + ".json")
    if not side.is_file():
        if side.exists():   # a folder (or socket, ...) in the sidecar's place: not silently "no sidecar"
            raise FeatureFileError(f"extraction sidecar {side} {not_a_file(side)}; expected the JSON file "
                                   f"`vadbench extract` writes, or nothing")
        return None
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise FeatureFileError(f"extraction sidecar {side} is not readable JSON: {err}") from err
    if not isinstance(meta, dict) or not isinstance(meta.get("settings"), dict):
        raise FeatureFileError(f"extraction sidecar {side}: expected a 'settings' object "
                               f"(written by `vadbench extract`)")
    shape = meta.get("video", {}).get("shape")
    if shape is not None:
        arr = open_features(path)
        if list(arr.shape) != list(shape):
            raise FeatureFileError(f"feature file {path}: shape {list(arr.shape)} but its sidecar {side} records "
                                   f"{list(shape)}; the file was changed after extraction")
    return meta


@dataclass
class ExtractionFacts:
    """The extraction settings shared by a run's feature files (from their sidecars)."""

    settings: dict[str, Any] = field(default_factory=dict)  # SHARED_KEYS + clip view keys
    source: Path | None = None                               # the first sidecar read
    files_with_sidecar: int = 0
    files_without_sidecar: int = 0

    @property
    def frames_per_snippet(self) -> int | None:
        """Frames between consecutive feature vectors (the snippet stride), as the ground truth needs."""
        stride = self.settings.get("stride", self.settings.get("snippet_len"))
        return int(stride) if stride is not None else None

    def add(self, path: Path, meta: dict | None, clip: bool = True) -> None:
        if meta is None:
            self.files_without_sidecar += 1
            return
        self.files_with_sidecar += 1
        settings = meta["settings"]
        keys = EXTRACTION_KEYS if clip else SHARED_KEYS
        mine = {k: settings.get(k) for k in keys if k in settings}
        if self.source is None:
            self.settings, self.source = mine, Path(str(path) + ".json")
            return
        for k, v in mine.items():
            if k in self.settings and self.settings[k] != v:
                raise FeatureFileError(
                    f"feature files were extracted with different settings: {path}.json has {k} = {v!r} but "
                    f"{self.source} has {k} = {self.settings[k]!r}; re-extract one of them with the same settings")

    def check_config(self, name: str, configured: Any, key: str) -> None:
        """Refuse a config value that disagrees with the sidecars (`name` = the config option)."""
        if configured is None or self.source is None or key not in self.settings:
            return
        recorded = self.settings[key]
        if key in ("stride", "snippet_len"):
            recorded = self.frames_per_snippet
        if recorded != configured:
            raise ConfigError(
                f"{name} is {configured!r} but the feature files were extracted with {key} = {recorded!r} "
                f"(sidecar {self.source}); set {name} to {recorded!r}, or leave it unset (null) to take it "
                f"from the sidecars")

    def as_metadata(self) -> dict:
        return {"extraction": dict(self.settings), "extraction_sidecar": str(self.source)} if self.source else {}
