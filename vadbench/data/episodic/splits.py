"""Few-shot split definitions: vadbench's manifest files and the official files they come from.

Manifest format (`data_manifests/<dataset>/`):
- `hmdb51`, `kinetics100`: `train.tsv`, `val.tsv`, `test.tsv`, one `<class>\\t<video>` per line
  (`#` lines are comments), sorted by class then video. `<video>` is the file stem (Kinetics:
  `<youtube id>_<start>_<end>`, matched on its 11-character YouTube id).
- `ucf_crime_v2`: `clips.tsv`, one `<class>\\t<video file>\\t<subset>\\t<segments>` per line;
  subset is `train_val` or `test` (ADNet's abnormal splits), segments are `start-end` pairs in
  seconds joined by `;` (empty: no annotated segment, the whole video is used).

Official formats read here (for users' own lists and the tests against the official files):
- TRX/STRM lists (`trainlist03.txt`, ...): `<class>/<video stem>` per line.
- ADNet/VADOR JSON (`Annotations/Splits/abnormal/{train_val,test}.json`):
  `{"<Class>/<file>": [{"start": s, "end": e}, ...]}` in seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vadbench.data.manifest import check_unique_entries, manifest_split  # noqa: F401  (manifest_split re-exported)

LAYOUTS = ("hmdb51", "kinetics100", "ucf_crime_v2")
SPLITS = ("train", "val", "test")
UCF_V2_SUBSETS = {"train": ("train_val",), "val": (), "test": ("test",), "all": ("train_val", "test"),
                  "train_val": ("train_val",)}
TRX_LIST_NAMES = {"train": "trainlist03.txt", "val": "vallist03.txt", "test": "testlist03.txt"}
ADNET_JSON_NAMES = {"train_val": "train_val.json", "test": "test.json"}


@dataclass(frozen=True)
class VideoEntry:
    """One listed video: its class, its name in the list, and (UCF-Crime v2) its anomalous segments."""

    class_name: str
    video: str
    segments: tuple[tuple[float, float], ...] = ()
    subset: str = ""

    @property
    def name(self) -> str:
        return f"{self.class_name}/{self.video}"


def video_key(layout: str, name: str) -> str:
    """The key a listed video and a file on disk are matched by (file stem or list entry)."""
    stem = Path(name).name
    for ext in VIDEO_EXTENSIONS:
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    if layout == "kinetics100":
        return stem[:11]  # the YouTube id; Kinetics file names vary in the time suffix
    if layout == "ucf_crime_v2":
        return stem.lower()  # ADNet lists `.MP4` and `.mp4` for the same kind of file
    return stem


VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")


# ---------------------------------------------------------------------- official formats
def read_trx_list(path: str | Path) -> list[VideoEntry]:
    """A TRX split list: `<class>/<video>` per line (the class may contain spaces)."""
    path = Path(path)
    entries = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        if "/" not in line:
            raise ValueError(f"{path}:{lineno}: expected '<class>/<video>', got {line!r}")
        cls, video = line.rsplit("/", 1)
        entries.append(VideoEntry(cls, video))
    check_unique_entries((e.name for e in entries), path)
    return entries


def _unique_keys(pairs: list[tuple[str, object]], path: Path) -> dict:
    """A JSON object whose keys are all different (`json.loads` would keep only the last of a repeat)."""
    check_unique_entries((key for key, _ in pairs), path, "entry")
    return dict(pairs)


def read_adnet_json(path: str | Path, subset: str = "") -> list[VideoEntry]:
    """An ADNet/VADOR annotation JSON: `{"Class/file.mp4": [{"start": s, "end": e}, ...]}` (seconds)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=lambda pairs: _unique_keys(pairs, path))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable JSON annotation file ({err})") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object {{'Class/video.mp4': [{{'start': s, 'end': e}}]}}")
    entries = []
    for key, segs in data.items():
        if "/" not in key or not isinstance(segs, list):
            raise ValueError(f"{path}: entry {key!r} should be 'Class/video' -> list of {{start, end}}")
        cls, video = key.rsplit("/", 1)
        try:
            pairs = tuple((float(s["start"]), float(s["end"])) for s in segs)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"{path}: entry {key!r} has a segment without numeric start/end ({err})") from err
        entries.append(VideoEntry(cls, video, pairs, subset))
    return entries


def _find_one(root: Path, name: str) -> Path:
    direct = root / name
    if direct.is_file():
        return direct
    found = sorted(root.rglob(name))
    if not found:
        raise FileNotFoundError(f"split file {name} not found under {root}")
    return found[0]


def read_official_split(layout: str, split_dir: str | Path, split: str) -> list[VideoEntry]:
    """Read a split from a folder holding the official files (TRX lists or ADNet JSON)."""
    root = Path(split_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"split folder {root} does not exist")
    if layout == "ucf_crime_v2":
        if split not in UCF_V2_SUBSETS:
            raise ValueError(f"ucf_crime_v2 split {split!r}: expected one of {sorted(UCF_V2_SUBSETS)}")
        entries = []
        for subset in UCF_V2_SUBSETS[split]:
            abnormal = [p for p in root.rglob(ADNET_JSON_NAMES[subset]) if p.parent.name == "abnormal"
                        and p.parent.parent.name == "Splits"]
            path = sorted(abnormal)[0] if abnormal else _find_one(root, ADNET_JSON_NAMES[subset])
            entries += read_adnet_json(path, subset)
        return entries
    if split not in TRX_LIST_NAMES:
        raise ValueError(f"{layout} split {split!r}: expected one of {list(TRX_LIST_NAMES)}")
    return read_trx_list(_find_one(root, TRX_LIST_NAMES[split]))


# ---------------------------------------------------------------------- manifest format
def _fmt_seconds(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def write_manifest_split(path: str | Path, entries: list[VideoEntry], with_segments: bool = False) -> None:
    rows = sorted(entries, key=lambda e: (e.class_name, e.video))
    if with_segments:
        header = "# class\tvideo\tsubset\tsegments (start-end seconds, ';'-separated)\n"
        lines = [f"{e.class_name}\t{e.video}\t{e.subset}\t" +
                 ";".join(f"{_fmt_seconds(a)}-{_fmt_seconds(b)}" for a, b in e.segments) for e in rows]
    else:
        header = "# class\tvideo\n"
        lines = [f"{e.class_name}\t{e.video}" for e in rows]
    Path(path).write_text(header + "".join(l + "\n" for l in lines), encoding="utf-8")


def read_manifest_split(path: str | Path) -> list[VideoEntry]:
    path = Path(path)
    entries = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) == 2:
            entries.append(VideoEntry(parts[0], parts[1]))
        elif len(parts) == 4:
            segs = []
            for item in filter(None, parts[3].split(";")):
                try:
                    a, b = item.split("-")
                    segs.append((float(a), float(b)))
                except ValueError as err:
                    raise ValueError(f"{path}:{lineno}: bad segment {item!r}, expected 'start-end'") from err
            entries.append(VideoEntry(parts[0], parts[1], tuple(segs), parts[2]))
        else:
            raise ValueError(f"{path}:{lineno}: expected '<class>\\t<video>' or "
                             f"'<class>\\t<video>\\t<subset>\\t<segments>', got {line!r}")
    check_unique_entries((e.name for e in entries), path)
    return entries
