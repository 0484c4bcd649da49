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
