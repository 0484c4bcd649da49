import pytest

from tests.conftest import REFERENCE, require
from vadbench.data.manifest import load_manifest, manifest_split, read_split, video_name_from_list_line

RTFM_LIST = REFERENCE / "tianyu0207_RTFM" / "list"
SSRL_LIST = REFERENCE / "nutuniv_SSRL" / "list"


@pytest.mark.parametrize("dataset", ["ucf_crime", "shanghaitech", "ucsd_ped2", "xd_violence"])
def test_manifest_counts_match_split_files(dataset):
    m = load_manifest(dataset)
    for split in ("train", "test"):
        entries = manifest_split(dataset, split)
        assert len(entries) == m["counts"][split]
        assert sum(e.label for e in entries) == m["counts"][f"{split}_abnormal"]
        assert len({e.name for e in entries}) == len(entries)


@pytest.mark.parametrize("dataset,split,official,ssrl", [
    ("ucf_crime", "train", "ucf-i3d.list", "ucf-train.list"),
    ("ucf_crime", "test", "ucf-i3d-test.list", "ucf-test.list"),
    ("shanghaitech", "train", "shanghai-i3d-train-10crop.list", "shanghai-train.list"),
    ("shanghaitech", "test", "shanghai-i3d-test-10crop.list", "shanghai-test.list"),
])
def test_split_files_match_official_lists(dataset, split, official, ssrl):
    names = [video_name_from_list_line(l) for l in require(RTFM_LIST / official).read_text().splitlines() if l.strip()]
    ssrl_names = [video_name_from_list_line(l) for l in require(SSRL_LIST / ssrl).read_text().splitlines() if l.strip()]
    ours = manifest_split(dataset, split)
    assert [e.name for e in ours] == names == ssrl_names
    # the official code's hard-coded index agrees with our explicit labels
    n_abn = {"ucf_crime": {"train": 810, "test": 140}, "shanghaitech": {"train": 63, "test": 44}}[dataset][split]
    assert [e.label for e in ours] == [1] * n_abn + [0] * (len(ours) - n_abn)


def test_shanghaitech_labels_equal_mask_existence():
    masks = {p.stem for p in require(RTFM_LIST / "test_frame_mask").glob("*.npy")}
    assert len(masks) == 107
    for split in ("train", "test"):
        for e in manifest_split("shanghaitech", split):
            assert e.label == int(e.name in masks)


def test_list_line_parsing_any_os():
    assert video_name_from_list_line("G:\\UCF_Test_ten_crop_i3d\\Abuse028_x264_i3d.npy") == "Abuse028_x264"
    assert video_name_from_list_line("/home/yu/SH/01_0014_i3d.npy") == "01_0014"
    assert video_name_from_list_line("01_0015_i3d.npy") == "01_0015"


def test_ped2_split_is_the_sta_mil_protocol():
    train, test = manifest_split("ucsd_ped2", "train"), manifest_split("ucsd_ped2", "test")
    assert sum(1 - e.label for e in train) == 10 and sum(e.label for e in train) == 6
    assert len(test) == 12 and not ({e.name for e in train} & {e.name for e in test})
    assert load_manifest("ucsd_ped2")["splits"]["seed"] == 0


def test_read_split_rejects_bad_lines(tmp_path):
    p = tmp_path / "s.txt"
    p.write_text("a 1\nb two\n")
    with pytest.raises(ValueError, match=r"s\.txt:2: expected"):
        read_split(p)


def test_xd_violence_manifest_labels_are_the_label_a_rule_and_its_checksums_are_the_official_files():
    from vadbench.data.manifest import sha256_file

    m = load_manifest("xd_violence")
    for split in ("train", "test"):
        assert all(e.label == int("_label_A" not in e.name) for e in manifest_split("xd_violence", split))
    wu = REFERENCE / "henrryzh1_UR-DMU" / "list"
    for key, digest in m["checksums"].items():
        assert sha256_file(require(wu / key.split(" ")[0])) == digest
    for key, digest in load_manifest("ucf_crime")["checksums"].items():
        if "UR-DMU" in key:
            assert sha256_file(require(wu / key.split(" ")[0])) == digest
