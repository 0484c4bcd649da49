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


def test_a_repeated_video_in_a_few_shot_list_is_an_error_naming_the_file(tmp_path):
    """Issue #20: TRX lists, ADNet JSON (json.loads would keep only the last of a repeated key) and the
    manifest's tsv files refuse a video listed twice; one line naming the file and the video."""
    from vadbench.errors import DataError

    trx = tmp_path / "testlist03.txt"
    trx.write_text("brush_hair/v1\nbrush_hair/v2\nbrush_hair/v1\n")
    with pytest.raises(DataError, match=r"testlist03\.txt: 1 video listed more than once: brush_hair/v1 \(2x\)"):
        read_trx_list(trx)
    adnet = tmp_path / "test.json"
    adnet.write_text('{"Abuse/Abuse001_x264.mp4": [{"start": 1, "end": 2}], "Arson/Arson002_x264.mp4": [],\n'
                     ' "Abuse/Abuse001_x264.mp4": [{"start": 5, "end": 6}]}')
    with pytest.raises(DataError, match=r"test\.json: 1 entry listed more than once: Abuse/Abuse001_x264\.mp4 \(2x\)"):
        read_adnet_json(adnet)
    tsv = tmp_path / "test.tsv"
    tsv.write_text("# class\tvideo\nbrush_hair\tv1\nchew\tv2\nchew\tv2\n")
    with pytest.raises(DataError, match=r"test\.tsv: 1 video listed more than once: chew/v2 \(2x\)"):
        read_manifest_split(tsv)


def test_two_list_lines_that_are_one_video_file_are_an_error(tmp_path):
    """Kinetics videos are matched on their 11-character YouTube id: two lines with one id (or one video
    under two classes) would put one file in an episode twice; refused before any video is read."""
    from vadbench.data.episodic import EpisodicVideoDataModule
    from vadbench.errors import DataError

    (tmp_path / "videos").mkdir()
    splits = tmp_path / "splits"
    splits.mkdir()
    for split in ("train", "val", "test"):
        (splits / f"{split}list03.txt").write_text("air drumming/-VtLx-mcPds_000012_000022\n"
                                                  "juggling balls/-VtLx-mcPds_000030_000040\nballoon/abcdefghijk_1_2\n")
    dm = EpisodicVideoDataModule(dataset="kinetics100", root=str(tmp_path / "videos"), split_dir=str(splits))
    with pytest.raises(DataError, match=r"kinetics100 test split \(.*splits\): 1 video listed more than once: "
                                        r"-VtLx-mcPds \(2x\)"):
        dm.setup("test")
