"""Dataset manifests (`data_manifests/<dataset>/`): pinned splits, counts, checksums, sources.

A manifest folder holds `manifest.yaml` (description, citation, where to get the data, expected
counts, sha256 of the official files where they exist) and, for MIL datasets, one split file per
split (`train.txt`, `test.txt`): one `<video_name> <label>` per line, label 1 = anomalous video.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from vadbench.checksums import sha256_file  # noqa: F401  (re-exported for `vadbench data verify`)
from vadbench.errors import DataError
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


def check_unique_entries(names: Iterable[str], source: str | Path, what: str = "video") -> None:
    """Refuse a list that names an entry more than once: a repeated test video would be scored twice
    (its frames counted twice in the AUC), a repeated training video drawn twice as often.

    `names` are the list's entries one per line, as parsed (MIL: the video name of each line; few-shot:
    `<class>/<video>`). Call it where a list file is parsed, before lines are merged: a per-crop list
    (`<video>__0.npy` ... `<video>__9.npy`, several lines for one video) is checked on its per-line
    names (each crop once), then collapsed into videos. Raises `DataError` naming `source` and the
    repeated entries with their counts, in list order.
    """
    counts = Counter(names)
    repeated = [f"{name} ({n}x)" for name, n in counts.items() if n > 1]
    if repeated:
        shown = ", ".join(repeated[:10]) + (f", ... ({len(repeated) - 10} more)" if len(repeated) > 10 else "")
        plural = ("entries" if what == "entry" else what + "s") if len(repeated) > 1 else what
        raise DataError(f"{source}: {len(repeated)} {plural} listed more than once: "
                        f"{shown}; list each {what} once")


def read_split(path: str | Path) -> list[SplitEntry]:
    """Read a `<name> <label>` split file (each video once: a repeated name is an error)."""
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
    check_unique_entries((e.name for e in entries), path)
    return entries


def write_split(path: str | Path, entries: list[SplitEntry]) -> None:
    Path(path).write_text("".join(f"{e.name} {e.label}\n" for e in entries), encoding="utf-8")


def manifest_split(dataset: str, split: str) -> list:
    """A split pinned in `data_manifests/<dataset>/`, the one reader for every dataset:

    - MIL datasets: `<split>.txt`, `<video> <label>` lines -> `SplitEntry`s;
    - few-shot datasets: `<split>.tsv`, `<class>\t<video>` lines -> `VideoEntry`s;
    - clips cut from annotated videos (UCF-Crime v2): the split's subsets of `clips.tsv` -> `VideoEntry`s
      with their segments (`train`, `test`, `all`, ...; see `vadbench.data.episodic.splits.UCF_V2_SUBSETS`).
    """
    folder = manifest_dir(dataset)
    txt, tsv, clips = folder / f"{split}.txt", folder / f"{split}.tsv", folder / "clips.tsv"
    if txt.is_file():
        return read_split(txt)
    from vadbench.data.episodic.splits import UCF_V2_SUBSETS, read_manifest_split

    if tsv.is_file():
        return read_manifest_split(tsv)
    if clips.is_file():
        if split not in UCF_V2_SUBSETS:
            raise ValueError(f"{dataset} split {split!r} ({clips}): expected one of {sorted(UCF_V2_SUBSETS)}")
        wanted = UCF_V2_SUBSETS[split]
        return [e for e in read_manifest_split(clips) if e.subset in wanted]
    present = sorted(p.name for p in folder.iterdir() if p.suffix in (".txt", ".tsv"))
    raise FileNotFoundError(f"no split file {txt.name} or {tsv.name} in {folder} (dataset {dataset!r}, split "
                            f"{split!r}); split files there: {present or 'none'}")


def video_name_from_list_line(line: str, suffix: str = "_i3d.npy") -> str:
    """`G:\\UCF_Test_ten_crop_i3d\\Abuse028_x264_i3d.npy` -> `Abuse028_x264` (any OS's path)."""
    base = line.strip().replace("\\", "/").rsplit("/", 1)[-1]
    for suf in (suffix, ".npy"):
        if base.endswith(suf):
            return base[: -len(suf)]
    return base
