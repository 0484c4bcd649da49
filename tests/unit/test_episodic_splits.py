"""The few-shot split manifests against the official files (skipped when ../shared is absent)."""

import json
from collections import Counter

import pytest

from vadbench.data.episodic.splits import (manifest_split, read_adnet_json, read_manifest_split, read_trx_list,
                                           video_key, write_manifest_split)
from tests.conftest import REFERENCE, require

TRX = REFERENCE / "tobyperrett_trx" / "splits"
ADNET = REFERENCE / "hibrahimozturk_vador" / "data" / "Annotations" / "Splits" / "abnormal"
COUNTS = {"hmdb51": {"train": (4280, 31), "val": (1194, 10), "test": (1292, 10)},
          "kinetics100": {"train": (6400, 64), "val": (1200, 12), "test": (2400, 24)}}


@pytest.mark.parametrize("dataset", ["hmdb51", "kinetics100"])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_manifest_counts(dataset, split):
    entries = manifest_split(dataset, split)
    videos, classes = COUNTS[dataset][split]
    assert len(entries) == videos and len({e.class_name for e in entries}) == classes
    if dataset == "kinetics100":
        assert set(Counter(e.class_name for e in entries).values()) == {100}
        assert len({video_key("kinetics100", e.video) for e in entries}) == videos  # YouTube ids are unique


def test_few_shot_splits_have_disjoint_classes():
    for dataset in COUNTS:
        sets = [{e.class_name for e in manifest_split(dataset, s)} for s in ("train", "val", "test")]
        assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


@pytest.mark.parametrize("dataset,folder", [("hmdb51", "hmdb_ARN"), ("kinetics100", "kinetics_CMN")])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_manifest_matches_official_trx_lists(dataset, folder, split):
    official = read_trx_list(require(TRX / folder / f"{split}list03.txt"))
    ours = manifest_split(dataset, split)
    assert sorted((e.class_name, e.video) for e in official) == sorted((e.class_name, e.video) for e in ours)


def test_ucf_crime_v2_manifest_matches_adnet_json():
    for subset, split in (("train_val", "train"), ("test", "test")):
        path = require(ADNET / f"{subset}.json")
        official = json.loads(path.read_text())
        ours = {e.name: [list(s) for s in e.segments] for e in manifest_split("ucf_crime_v2", split)}
        assert ours == {k: [[float(s["start"]), float(s["end"])] for s in v] for k, v in official.items()}
        assert {e.subset for e in manifest_split("ucf_crime_v2", split)} == {subset}
        assert [e.name for e in read_adnet_json(path)] == list(official)


def test_ucf_crime_v2_manifest_counts():
    all_ = manifest_split("ucf_crime_v2", "all")
    per_class = Counter(e.class_name for e in all_)
    assert len(all_) == 1193 and len(per_class) == 15 and min(per_class.values()) >= 50
    assert {"Banner", "MolotovBomb"} <= set(per_class)
    assert len(manifest_split("ucf_crime_v2", "train")) == 1036 and len(manifest_split("ucf_crime_v2", "test")) == 157
    assert manifest_split("ucf_crime_v2", "val") == []


def test_manifest_roundtrip_and_bad_line(tmp_path):
    entries = manifest_split("ucf_crime_v2", "test")[:5]
    write_manifest_split(tmp_path / "c.tsv", entries, with_segments=True)
    assert read_manifest_split(tmp_path / "c.tsv") == sorted(entries, key=lambda e: (e.class_name, e.video))
    (tmp_path / "bad.tsv").write_text("only-one-field\n")
    with pytest.raises(ValueError, match="bad.tsv:1"):
        read_manifest_split(tmp_path / "bad.tsv")
    (tmp_path / "bad.txt").write_text("novideo\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        read_trx_list(tmp_path / "bad.txt")


def test_video_keys():
    assert video_key("kinetics100", "-VtLx-mcPds_000012_000022") == "-VtLx-mcPds"
    assert video_key("kinetics100", "-VtLx-mcPds.mp4") == "-VtLx-mcPds"
    assert video_key("ucf_crime_v2", "banner12.MP4") == video_key("ucf_crime_v2", "banner12.mp4") == "banner12"
    assert video_key("hmdb51", "April_09_brush_hair_u_nm_np1_ba_goo_0.avi") == "April_09_brush_hair_u_nm_np1_ba_goo_0"
