import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from vadbench.metrics import EpisodeAccuracy, FrameAnomalyMetrics, mean_confidence_interval


def _videos(seed=0, n=6, fps=4):
    rng = np.random.default_rng(seed)
    vids = []
    for i in range(n):
        t = int(rng.integers(3, 9))
        labels = np.zeros(t * fps, int)
        if i % 2:
            a = int(rng.integers(0, t * fps - 4))
            labels[a:a + 5] = 1
        vids.append((rng.random(t).astype(np.float32), labels))
    return vids


def test_micro_macro_ap_match_sklearn_and_padding_is_ignored():
    fps = 4
    vids = _videos(fps=fps)
    m = FrameAnomalyMetrics(frames_per_snippet=fps)
    # two videos per batch, padded
    for i in range(0, len(vids), 2):
        pair = vids[i:i + 2]
        t = max(len(s) for s, _ in pair)
        scores = torch.zeros(len(pair), t)
        labels = torch.full((len(pair), t * fps), -1)
        mask = torch.zeros(len(pair), t, dtype=torch.bool)
        for j, (s, lab) in enumerate(pair):
            scores[j, :len(s)] = torch.from_numpy(s)
            labels[j, :len(lab)] = torch.from_numpy(lab)
            mask[j, :len(s)] = True
        m.update(scores, labels, mask, torch.tensor([i, i + 1][:len(pair)]))
    out = m.compute()
    all_s = np.concatenate([np.repeat(s, fps) for s, _ in vids])
    all_l = np.concatenate([lab for _, lab in vids])
    assert out["num_frames"] == len(all_l)
    assert abs(out["frame_auc_micro"] - roc_auc_score(all_l, all_s)) < 1e-9
    assert abs(out["frame_ap_micro"] - average_precision_score(all_l, all_s)) < 1e-9
    per_video = [roc_auc_score(lab, np.repeat(s, fps)) for s, lab in vids if lab.min() != lab.max()]
    assert abs(out["frame_auc_macro"] - np.mean(per_video)) < 1e-9
    assert out["num_videos_macro"] == len(per_video)


def test_duplicated_videos_do_not_change_the_result():
    """A padded DistributedSampler repeats videos: de-duplication by (video, frame) undoes it."""
    fps = 4
    vids = _videos(1, fps=fps)

    def run(order):
        m = FrameAnomalyMetrics(frames_per_snippet=fps)
        for i in order:
            s, lab = vids[i]
            m.update(torch.from_numpy(s)[None], torch.from_numpy(lab)[None], torch.ones(1, len(s), dtype=torch.bool),
                     torch.tensor([i]))
        return m.compute()

    clean = run(range(len(vids)))
    padded = run(list(range(len(vids))) + [0, 1, 0])
    assert clean == padded
    # whereas naively counting the repeats changes the AUC
    s_rep = np.concatenate([np.repeat(vids[i][0], fps) for i in list(range(len(vids))) + [0, 1, 0]])
    l_rep = np.concatenate([vids[i][1] for i in list(range(len(vids))) + [0, 1, 0]])
    assert abs(roc_auc_score(l_rep, s_rep) - clean["frame_auc_micro"]) > 1e-6


def test_episode_accuracy_ci_and_dedup():
    acc = torch.tensor([0.2, 0.4, 0.6, 0.8], dtype=torch.float64)
    mean, ci = mean_confidence_interval(acc)
    assert abs(mean - 0.5) < 1e-12 and abs(ci - 1.96 * acc.double().std(unbiased=False).item() / 2) < 1e-12
    m = EpisodeAccuracy()
    m.update(acc, torch.arange(4))
    m.update(acc[:2], torch.arange(2))  # repeated episodes
    out = m.compute()
    assert out["num_episodes"] == 4 and abs(out["accuracy"] - 0.5) < 1e-12


def _update_videos(m, videos, fps=1):
    """videos: [(snippet scores, frame labels, video label)], one per batch."""
    for i, (s, lab, v) in enumerate(videos):
        m.update(torch.tensor([s], dtype=torch.float32), torch.tensor([lab]), torch.ones(1, len(s), dtype=torch.bool),
                 torch.tensor([i]), torch.tensor([float(v)]))


# Hand-computed: anomalous video A: scores [0.9, 0.2, 0.6, 0.5], labels [1, 0, 1, 0]; anomalous video B:
# [0.7, 0.1], labels [0, 1]; normal video N: [0.5, 0.8, 0.3, 0.6, 0.1], all 0.
# AUC_A over A+B (3 positives {0.9, 0.6, 0.1}, 3 negatives {0.2, 0.5, 0.7}): pairs won: 0.9 > all 3,
#   0.6 > 0.2, 0.5 (2), 0.1 > none -> 5/9. (With N's frames as negatives too, the micro AUC differs: 0.9 wins 8,
#   0.6 wins 5 and ties 1, 0.1 ties 1 -> 14/24.)
# AP_A: ranking 0.9(+) 0.7(-) 0.6(+) 0.5(-) 0.2(-) 0.1(+): precision at each positive 1, 2/3, 3/6 -> (1 + 2/3 + 1/2)/3 = 13/18.
# FAR over N at 0.5: scores > 0.5 are 0.8, 0.6 -> 2/5 (0.5 itself is no alarm; ">=" would give 3/5).
VIDEOS = [([0.9, 0.2, 0.6, 0.5], [1, 0, 1, 0], 1), ([0.7, 0.1], [0, 1], 1), ([0.5, 0.8, 0.3, 0.6, 0.1], [0] * 5, 0)]


def test_anomalous_only_auc_ap_and_false_alarm_rate_hand_computed():
    m = FrameAnomalyMetrics(frames_per_snippet=1)
    _update_videos(m, VIDEOS)
    out = m.compute()
    assert abs(out["frame_auc_abnormal"] - 5 / 9) < 1e-12
    assert abs(out["frame_ap_abnormal"] - 13 / 18) < 1e-12
    assert abs(out["frame_far_normal"] - 2 / 5) < 1e-12
    assert abs(out["frame_auc_micro"] - 14 / 24) < 1e-12     # all frames: not the anomalous-only number


def test_far_threshold_is_an_option_and_video_labels_come_from_the_batch():
    m = FrameAnomalyMetrics(frames_per_snippet=1, far_threshold=0.55)
    _update_videos(m, VIDEOS)
    assert abs(m.compute()["frame_far_normal"] - 2 / 5) < 1e-12   # 0.8, 0.6
    m = FrameAnomalyMetrics(frames_per_snippet=1, far_threshold=0.2)
    _update_videos(m, VIDEOS)
    assert abs(m.compute()["frame_far_normal"] - 4 / 5) < 1e-12   # all but 0.1
    # an anomalous video whose frames are all normal (annotation cut by T) still counts as anomalous, not in FAR
    m = FrameAnomalyMetrics(frames_per_snippet=1)
    _update_videos(m, VIDEOS + [([0.95, 0.99], [0, 0], 1)])
    out = m.compute()
    assert abs(out["frame_far_normal"] - 2 / 5) < 1e-12
    # without video labels: a video is anomalous when a frame is (the extra video then counts as normal)
    m = FrameAnomalyMetrics(frames_per_snippet=1)
    for i, (s, lab, _) in enumerate(VIDEOS + [([0.95, 0.99], [0, 0], 1)]):
        m.update(torch.tensor([s]), torch.tensor([lab]), torch.ones(1, len(s), dtype=torch.bool), torch.tensor([i]))
    assert abs(m.compute()["frame_far_normal"] - 4 / 7) < 1e-12


def test_new_metrics_are_exact_when_a_padded_sampler_repeats_videos():
    def run(order):
        m = FrameAnomalyMetrics(frames_per_snippet=2)
        for i in order:
            s, lab, v = VIDEOS[i]
            m.update(torch.tensor([s]), torch.tensor([np.repeat(lab, 2).tolist()]), torch.ones(1, len(s), dtype=torch.bool),
                     torch.tensor([i]), torch.tensor([float(v)]))
        return m.compute()

    once, repeated = run([0, 1, 2]), run([0, 1, 2, 2, 0])
    for key in ("frame_auc_abnormal", "frame_ap_abnormal", "frame_far_normal"):
        assert once[key] == repeated[key]


def test_no_far_without_a_threshold_and_bn_wvad_has_none_by_default():
    """A score that is not a probability gets no FAR (NaN, an empty board cell), not a 0.5-threshold 100 %."""
    import inspect
    import math

    from vadbench.metrics.frame_level import metric_definitions
    from vadbench.models.bn_wvad import BNWVAD

    m = FrameAnomalyMetrics(frames_per_snippet=1, far_threshold=None)
    _update_videos(m, VIDEOS)
    out = m.compute()
    assert math.isnan(out["frame_far_normal"])
    assert abs(out["frame_auc_abnormal"] - 5 / 9) < 1e-12 and abs(out["frame_auc_micro"] - 14 / 24) < 1e-12
    assert "not computed" in metric_definitions(None)["frame_far_normal"]
    assert inspect.signature(BNWVAD.__init__).parameters["far_threshold"].default is None
