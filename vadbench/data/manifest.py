"""Dataset manifests (`data_manifests/<dataset>/`): pinned splits, counts, checksums, sources.

A manifest folder holds `manifest.yaml` (description, citation, where to get the data, expected
counts, sha256 of the official files where they exist) and, for MIL datasets, one split file per
split (`train.txt`, `test.txt`): one `<video_name> <label>` per line, label 1 = anomalous video.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

from vadbench.paths import MANIFESTS_DIR


@dataclass(frozen=True)
class SplitEntry:
    name: str
    label: int


def manifest_dir(dataset: str) -> Path:
    path = MANIFESTS_DIR / dataset
    if not path.is_dir():
        known = sorted(p.name for p in MANIFESTS_DIR.iterdir() if p.is_dir())
        raise FileNotFoundError(f"no manifest for dataset {dataset!r} under {MANIFESTS_DIR}; known: {known}")
    return path


def load_manifest(dataset: str) -> dict:
    path = manifest_dir(dataset) / "manifest.yaml"
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def read_split(path: str | Path) -> list[SplitEntry]:
    """Read a `<name> <label>` split file."""
    entries = []
    path = Path(path)
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in {"0", "1"}:
            raise ValueError(f"{path}:{lineno}: expected '<video_name> <0|1>', got {line!r}")
        entries.append(SplitEntry(parts[0], int(parts[1])))
    return entries


def write_split(path: str | Path, entries: list[SplitEntry]) -> None:
    Path(path).write_text("".join(f"{e.name} {e.label}\n" for e in entries), encoding="utf-8")


def manifest_split(dataset: str, split: str) -> list[SplitEntry]:
    return read_split(manifest_dir(dataset) / f"{split}.txt")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def video_name_from_list_line(line: str, suffix: str = "_i3d.npy") -> str:
    """`G:\\UCF_Test_ten_crop_i3d\\Abuse028_x264_i3d.npy` -> `Abuse028_x264` (any OS's path)."""
    base = line.strip().replace("\\", "/").rsplit("/", 1)[-1]
    for suf in (suffix, ".npy"):
        if base.endswith(suf):
            return base[: -len(suf)]
    return base
