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


def test_a_repeated_entry_is_an_error_naming_the_file_and_the_entries(tmp_path):
    """Issue #20: duplicates in a pinned split or a user's split file are refused (DataError, one line)."""
    from vadbench.data.manifest import check_unique_entries
    from vadbench.errors import DataError

    p = tmp_path / "test.txt"
    p.write_text("Abuse028_x264 1\nNormal_Videos_003_x264 0\nAbuse028_x264 1\n")
    with pytest.raises(DataError, match=r"test\.txt: 1 video listed more than once: Abuse028_x264 \(2x\)") as err:
        read_split(p)
    assert "\n" not in str(err.value)
    # RTFM's lists: one line per video, so the same video under two paths is a repeat
    rtfm = ["G:\\UCF_Test_ten_crop_i3d\\Abuse028_x264_i3d.npy", "/data/UCF/Abuse028_x264_i3d.npy"]
    with pytest.raises(DataError, match=r"ucf\.list: 1 video listed more than once: Abuse028_x264 \(2x\)"):
        check_unique_entries([video_name_from_list_line(l) for l in rtfm], "ucf.list")
    # Wu et al.'s per-crop lists: one line per crop (`<video>__<c>.npy`), several lines for one video;
    # checked per line (before the crops are collapsed into videos), so only a repeated crop line is refused
    per_crop = [f"/dataset/Abuse/Abuse001_x264__{c}.npy" for c in range(10)]
    check_unique_entries([video_name_from_list_line(l) for l in per_crop], "UCF_Train.list")
    with pytest.raises(DataError, match=r"UCF_Train\.list: 1 video listed more than once: Abuse001_x264__3 \(2x\)"):
        check_unique_entries([video_name_from_list_line(l) for l in per_crop + per_crop[3:4]], "UCF_Train.list")


def test_official_mil_lists_have_no_repeats():
    """The official lists (RTFM, SSRL; Wu et al.'s per-crop UCF-Crime and XD-Violence) pass the check."""
    from vadbench.data.manifest import check_unique_entries

    lists = [REFERENCE / "tianyu0207_RTFM" / "list" / n for n in ("ucf-i3d.list", "ucf-i3d-test.list",
                                                                   "shanghai-i3d-train-10crop.list")]
    lists += [REFERENCE / "henrryzh1_UR-DMU" / "list" / n for n in ("UCF_Train.list", "UCF_Test.list", "XD_Train.list")]
    for path in lists:
        lines = require(path).read_text().splitlines()
        check_unique_entries([video_name_from_list_line(l) for l in lines if l.strip()], path)


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
