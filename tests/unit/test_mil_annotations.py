import math

import numpy as np
import pytest

from tests.conftest import REAL, REFERENCE, require
from vadbench.data.manifest import manifest_split
from vadbench.data.mil.annotations import (GroundTruth, GroundTruthError, read_shanghaitech_masks,
                                           read_ucf_mat_dir, read_ucf_temporal_txt, read_ucsd_intervals)

UCF_TXT = REAL / "salva-u_AnomalyDetectionInVideoSurveillance2021" / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
RTFM_LIST = REFERENCE / "tianyu0207_RTFM" / "list"


def test_interval_labels_and_length_checks():
    gt = GroundTruth("mem", intervals={"v": [(17, 32), (40, 50)]})
    lab = gt.frame_labels("v", num_snippets=4)  # 64 frames
    assert lab.sum() == 16 + 11 and lab[16] == 1 and lab[15] == 0 and lab[49] == 1 and lab[50] == 0
    assert gt.frame_labels("normal", 3).sum() == 0
    # an interval ending up to 15 frames past 16*T is cut (the video's trailing frames have no snippet)
    assert GroundTruth("mem", intervals={"v": [(60, 70)]}).frame_labels("v", 4).sum() == 5
    with pytest.raises(GroundTruthError, match=r"video v: annotated frames \[60, 90\] lie beyond the 64 frames"):
        GroundTruth("mem", intervals={"v": [(60, 90)]}).frame_labels("v", 4)


def test_mask_padding_and_mismatch():
    gt = GroundTruth("mem", masks={"m": np.array([0, 1, 1] + [0] * 14 + [1])})  # 18 frames -> T = 2
    lab = gt.frame_labels("m", 2)
    assert len(lab) == 32 and lab[17:].tolist() == [1] * 15
    with pytest.raises(GroundTruthError, match=r"video m: the frame mask has 18 frames.*features have T = 3"):
        gt.frame_labels("m", 3)


def test_ucf_txt_and_mat_agree_on_all_290_test_videos():
    txt = read_ucf_temporal_txt(require(UCF_TXT))
    mat = read_ucf_mat_dir(require(RTFM_LIST / "Matlab_formate"))
    assert len(txt.intervals) == 290
    test_names = [e.name for e in manifest_split("ucf_crime", "test")]
    assert set(test_names) == set(txt.intervals)
    for name in test_names:
        assert txt.intervals[name] == mat.intervals[name], name
    # labels from names agree with the annotation: exactly the 140 anomalous videos have intervals
    assert sum(bool(txt.intervals[n]) for n in test_names) == 140
    # uint8/uint16 on disk: values past 255 survive the cast
    assert max(e for iv in mat.intervals.values() for _, e in iv) > 255


def test_shanghaitech_masks_reproduce_gt_sh_exactly():
    gt_sh = np.load(require(RTFM_LIST / "gt-sh.npy"))
    masks = read_shanghaitech_masks(RTFM_LIST / "test_frame_mask")
    test = manifest_split("shanghaitech", "test")
    assert len(gt_sh) == 142912 and sum(e.label for e in test) == 44
    pos = 0
    for e in test:
        if e.label == 0:
            continue  # normal videos: zeros of unknown length; skip to the next anomalous block
        raw = np.load(masks.masks[e.name])
        t = math.ceil(len(raw) / 16)
        built = masks.frame_labels(e.name, t)
        assert len(built) == 16 * t
        # find the block: it starts at a multiple of 16 at or after pos, everything skipped is zero
        found = None
        for start in range(pos, len(gt_sh) - len(built) + 1, 16):
            if np.array_equal(gt_sh[start:start + len(built)], built):
                found = start
                break
            assert gt_sh[start:start + 16].sum() == 0, f"{e.name}: anomalous frames before its block"
        assert found is not None, f"{e.name}: padded mask not found in gt-sh.npy"
        pos = found + len(built)
    assert gt_sh[pos:].sum() == 0


def test_ucsd_m_and_mat_agree():
    base = REAL / "aashimanigam_Video-Anomaly-Detection-System" / "UCSD_Anomaly_Dataset.v1p2" / "UCSDped2" / "Test"
    m = read_ucsd_intervals(require(base / "UCSDped2.m"))
    mat = read_ucsd_intervals(require(REAL / "yatoyun_test_ssctb" / "data" / "ped2" / "ped2.mat"))
    assert m.intervals == mat.intervals
    assert m.intervals["Test001"] == [(61, 180)] and len(m.intervals) == 12
