"""One helper each: sha256 of a file, reading a pinned split; the dead code stays dead."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

import vadbench
from vadbench.checksums import sha256_file

PACKAGE = Path(vadbench.__file__).parent


def _definitions(name: str) -> list[str]:
    pattern = re.compile(rf"^def {name}\(", re.M)
    return sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if pattern.search(p.read_text(encoding="utf-8")))


def test_sha256_file_matches_hashlib_across_chunks(tmp_path):
    data = bytes(range(256)) * 1000
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f", chunk=1000) == sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    assert _definitions("sha256_file") == ["checksums.py"] and _definitions("sha256_of") == []


def test_one_manifest_split_reads_mil_and_few_shot_splits():
    from vadbench.data.episodic.splits import VideoEntry
    from vadbench.data.episodic.splits import manifest_split as episodic_manifest_split
    from vadbench.data.manifest import SplitEntry, manifest_split

    assert episodic_manifest_split is manifest_split and _definitions("manifest_split") == ["data/manifest.py"]
    ucf = manifest_split("ucf_crime", "test")
    assert len(ucf) == 290 and isinstance(ucf[0], SplitEntry) and sum(e.label for e in ucf) == 140
    hmdb = manifest_split("hmdb51", "train")
    assert isinstance(hmdb[0], VideoEntry) and len({e.class_name for e in hmdb}) == 31
    v2 = manifest_split("ucf_crime_v2", "all")
    assert len(v2) == 1193 and v2[0].segments == ((8.0, 10.0), (33.0, 36.0), (59.0, 61.0), (76.0, 78.0)) or v2[0].segments
    with pytest.raises(FileNotFoundError, match=r"no split file val.txt or val.tsv in .*ucf_crime"):
        manifest_split("ucf_crime", "val")
    with pytest.raises(ValueError, match="ucf_crime_v2 split 'nope'"):
        manifest_split("ucf_crime_v2", "nope")


def test_dead_code_is_gone():
    for name in ("count_frames", "read_frames", "wandb_available"):
        assert _definitions(name) == [], name
