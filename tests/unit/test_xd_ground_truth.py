"""XD-Violence ground truth from XD_Annotation.txt: 0-based frame indices, end exclusive, over 16*T frames;
checked by hand and against an independent re-derivation of the official construction (Roc-Ng/XDVioDet
list/make_gt.py) on the real annotation file; Wu et al.'s UCF_Annotation.txt read like the .mat files."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import REFERENCE, require
from tests.helpers.xd_official import official_xd_gt
from vadbench.data.mil.annotations import GroundTruthError, read_ground_truth, read_ucf_mat_dir, read_xd_annotation

WU = REFERENCE / "henrryzh1_UR-DMU" / "list"
RTFM = REFERENCE / "tianyu0207_RTFM" / "list"


def test_xd_intervals_are_zero_based_and_end_exclusive(tmp_path):
    ann = tmp_path / "XD_Annotation.txt"
    ann.write_text("Movie__#1_label_B1-0-0 0 20 40 41\nClip__#2_label_G-0-0 30 70\n")
    gt = read_ground_truth("xd_annotation", ann)
    labels = gt.frame_labels("Movie__#1_label_B1-0-0", num_snippets=3)      # 48 frames
    assert labels.tolist() == [1] * 20 + [0] * 20 + [1] + [0] * 7               # frames 0..19 and 40
    # an interval running past the 16*T frames is cut (as the official code drops the tail frames)
    assert gt.frame_labels("Clip__#2_label_G-0-0", num_snippets=3).tolist() == [0] * 30 + [1] * 18
    assert gt.frame_labels("Normal__#3_label_A", num_snippets=2).sum() == 0     # not annotated: normal
    assert gt.is_anomalous("Clip__#2_label_G-0-0") and not gt.is_anomalous("Normal__#3_label_A")


def test_xd_annotation_far_beyond_the_features_is_an_error(tmp_path):
    ann = tmp_path / "XD_Annotation.txt"
    ann.write_text("Clip__#2_label_G-0-0 30 80\n")
    gt = read_xd_annotation(ann)
    assert gt.frame_labels("Clip__#2_label_G-0-0", num_snippets=3).sum() == 18   # ends 32 frames past 48: cut
    with pytest.raises(GroundTruthError, match=r"Clip__#2_label_G-0-0: annotated frames \[30, 80\) end more than 32 "
                                               r"frames past the 32 frames"):
        gt.frame_labels("Clip__#2_label_G-0-0", num_snippets=2)


@pytest.mark.parametrize("text,match", [
    ("v_label_B1-0-0 3 9 12\n", r"XD_Annotation\.txt:1: expected '<video> s1 e1"),
    ("v_label_B1-0-0\n", r"XD_Annotation\.txt:1: expected"),
    ("v_label_B1-0-0 3 x\n", "non-integer"),
    ("v_label_B1-0-0 3 9\nv_label_B1-0-0 1 2\n", r"XD_Annotation\.txt:2: video v_label_B1-0-0 is annotated twice"),
    ("v_label_B1-0-0 9 3\n", r"invalid interval \[9, 3\)"),
])
def test_bad_xd_annotation_lines_are_errors_naming_the_line(tmp_path, text, match):
    ann = tmp_path / "XD_Annotation.txt"
    ann.write_text(text)
    with pytest.raises(GroundTruthError, match=match):
        read_xd_annotation(ann).frame_labels("v_label_B1-0-0", num_snippets=4)


def test_every_official_xd_test_video_matches_the_official_construction():
    import re

    ann = require(WU / "XD_Annotation.txt")
    lines = ann.read_text().splitlines()
    gt = read_ground_truth("xd_annotation", ann)
    videos = []
    for line in require(WU / "XD_Test.list").read_text().splitlines():
        name = re.match(r"(.*)__\d+\.npy$", line.rsplit("/", 1)[-1]).group(1)
        if name not in videos:
            videos.append(name)
    assert len(videos) == 800 and sum(gt.is_anomalous(v) for v in videos) == 500 == len(gt.intervals)
    rng = np.random.default_rng(0)
    ends = {l.split()[0]: max(int(x) for x in l.split()[2::2]) for l in lines if l.strip()}
    differing = 0
    for name in videos:
        for frames in (max(17, ends.get(name, 17) - 1) + int(rng.integers(0, 300)), max(17, ends.get(name, 17) + 20)):
            t = (frames - 1) // 16
            ours = gt.frame_labels(name, t)
            official = official_xd_gt(name, frames, lines)
            assert np.array_equal(ours, official), name
            differing += int(ours.sum() != official.sum())
    assert differing == 0


def test_wu_ucf_annotation_holds_the_intervals_of_rtfm_mat_files():
    wu = read_ground_truth("ucf_temporal_txt", require(WU / "UCF_Annotation.txt"))
    mat = read_ucf_mat_dir(require(RTFM / "Matlab_formate"))
    assert len(wu.intervals) == 290
    anomalous = {k: v for k, v in wu.intervals.items() if v}
    assert anomalous == {k: v for k, v in mat.intervals.items() if v} and len(anomalous) == 140
