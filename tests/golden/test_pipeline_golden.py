"""The MIL pipeline against the official code (tests/golden/data/mil_pipeline_official.npz and
sultani_objective_transcribed.npz): the 32-segment reduction, the UCF-Crime ground truth as RTFM's
make_gt_ucf.py builds it (0-based) and as Sultani's evaluation reads it (1-based), the official
ROC-AUC and PR-AUC, and Sultani's objective and 32-segment frame expansion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from tests.golden.official import feature_file, load
from vadbench.data.mil.annotations import GroundTruth
from vadbench.data.mil.features import reduce_to_segments
from vadbench.metrics.frame_level import frame_level_metrics, official_pr_auc
from vadbench.models.sultani.loss import MILRankingLoss
from vadbench.models.sultani.torch_model import official_frame_scores, pad_to_frames


@pytest.fixture(scope="module")
def pipeline():
    return load("mil_pipeline_official")


@pytest.mark.parametrize("t", [5, 31, 32, 33, 100, 1000])
def test_32_segment_reduction_matches_official(pipeline, t):
    arrays, meta = pipeline
    x = feature_file(f"{meta['prefix']}/process_feat/T{t}", t, 1, dim=8)[:, 0, :]
    ours = reduce_to_segments(x, 32)
    # the official code accumulates in float32; ours in float64 (README: up to ~3e-7)
    np.testing.assert_allclose(ours, arrays[f"process_feat_T{t}"], rtol=0, atol=1e-6)


def ground_truth(meta, numbering):
    return GroundTruth(source="golden", frame_numbering=numbering,
                       intervals={v["name"]: [tuple(i) for i in v["intervals"]] for v in meta["gt"]["videos"]})


@pytest.mark.parametrize("numbering, reader", [("0-based", "rtfm"), ("1-based", "sultani")])
def test_ucf_ground_truth_matches_official_construction(pipeline, numbering, reader):
    arrays, meta = pipeline
    gt = ground_truth(meta, numbering)
    for video in meta["gt"]["videos"]:
        ours = gt.frame_labels(video["name"], video["T"], 16)
        np.testing.assert_array_equal(ours, arrays[f"gt_{reader}_{video['name']}"], err_msg=video["name"])


def test_the_two_numberings_differ_by_one_frame_at_each_end(pipeline):
    arrays, meta = pipeline
    zero, one = ground_truth(meta, "0-based"), ground_truth(meta, "1-based")
    video = meta["gt"]["videos"][0]          # Abuse028: one interval [165, 240] inside the video
    diff = zero.frame_labels(video["name"], video["T"]) != one.frame_labels(video["name"], video["T"])
    assert diff.nonzero()[0].tolist() == [164, 240]


def test_official_roc_auc_and_pr_auc(pipeline):
    arrays, meta = pipeline
    order = meta["auc"]["order"]
    scores = np.concatenate([np.repeat(arrays[f"auc_scores_{v}"].astype(np.float64), 16) for v in order])
    labels = arrays["auc_gt_concat"].astype(np.int64)
    vids = np.concatenate([np.full(16 * len(arrays[f"auc_scores_{v}"]), i) for i, v in enumerate(order)])
    m = frame_level_metrics(torch.from_numpy(scores), torch.from_numpy(labels), torch.from_numpy(vids))
    assert abs(m["frame_auc_micro"] - float(arrays["auc_roc"])) < 1e-9
    assert abs(m["frame_pr_auc_micro"] - float(arrays["auc_pr_auc_recall_precision"])) < 1e-9
    assert abs(official_pr_auc(labels, scores) - float(arrays["auc_pr_auc_recall_precision"])) < 1e-9
    # AP is another number: the two are reported under different names
    assert abs(m["frame_ap_micro"] - average_precision_score(labels, scores)) < 1e-12
    assert abs(m["frame_ap_micro"] - m["frame_pr_auc_micro"]) > 1e-4


def test_sultani_official_objective_matches_transcription():
    arrays, _ = load("sultani_objective_transcribed")
    y = torch.from_numpy(arrays["y_pred"]).double().view(60, 32)      # anomalous 0-29, normal 30-59
    scores = torch.cat([y[30:], y[:30]]).requires_grad_()                # ours: normal bags first
    labels = torch.cat([torch.zeros(30), torch.ones(30)]).double()
    terms = MILRankingLoss(reduction="official_sum")(scores, labels)
    for ours, official in {"ranking": "hinge", "sparsity": "sparsity", "smoothness": "smooth", "loss": "total"}.items():
        assert abs(terms[ours].item() - float(arrays[f"loss_{official}"])) <= 1e-12 * abs(float(arrays[f"loss_{official}"])), ours
    terms["loss"].backward()
    grad = torch.cat([scores.grad[30:], scores.grad[:30]]).reshape(-1).numpy()
    np.testing.assert_allclose(grad, arrays["grad_y_pred"], rtol=0, atol=1e-12)
    paired = MILRankingLoss()(scores.detach(), labels)                   # the default scale: per pair
    assert terms["ranking"].item() > 10 * paired["ranking"].item()


def test_sultani_official_frame_expansion():
    """Hand-computed from Evaluate_Anomaly_Detector.m for 10 clips: b = round(linspace(1, 10, 33))."""
    scores = torch.arange(32, dtype=torch.float64)
    per_clip = official_frame_scores(scores, 10).view(10, 16)
    assert (per_clip == per_clip[:, :1]).all()
    assert per_clip[:, 0].tolist() == [1, 5, 8, 12, 15, 19, 23, 26, 30, 31]
    # 100 clips: segment 0 covers clips 1-3; the last clip is covered by no segment and keeps 0
    per_clip = official_frame_scores(scores, 100).view(100, 16)[:, 0]
    assert per_clip[:3].tolist() == [0, 0, 0] and per_clip[3].item() == 1 and per_clip[-1].item() == 0
    assert per_clip[-2].item() == 31
    padded = pad_to_frames(official_frame_scores(scores, 10), 170)
    assert padded.shape == (170,) and (padded[160:] == 31).all()


def test_ucf_reader_takes_the_numbering_and_rejects_unknown_values(tmp_path):
    from vadbench.data.mil.annotations import read_ground_truth

    txt = tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    txt.write_text("Abuse028_x264.mp4  Abuse  0  15  -1  -1\n")
    zero = read_ground_truth("ucf_temporal_txt", txt, "0-based")
    assert zero.frame_labels("Abuse028_x264", 2).nonzero()[0].tolist() == list(range(16))   # 0-based: frame 0 exists
    with pytest.raises(ValueError, match="invalid interval"):
        read_ground_truth("ucf_temporal_txt", txt).frame_labels("Abuse028_x264", 2)     # 1-based: no frame 0
    with pytest.raises(ValueError, match="frame_numbering"):
        read_ground_truth("ucf_temporal_txt", txt, "zero")
