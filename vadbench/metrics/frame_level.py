"""Frame-level anomaly metrics: ROC-AUC (micro and macro), AP, the official PR-AUC, and the
anomalous-video-only and false-alarm figures recent papers print; exact under DDP.

Two precision-recall summaries, both over all test frames, labelled differently on purpose:
- `frame_ap_micro`: average precision (scikit-learn `average_precision_score`, a step-wise sum).
- `frame_pr_auc_micro`: the number the official RTFM / SSRL code reports as "PR-AUC":
  `auc(recall, precision)` of scikit-learn's `precision_recall_curve`, a trapezoidal area (it
  interpolates linearly between operating points, which AP does not). The two differ, typically in
  the second decimal; compare a paper's AP column with `frame_pr_auc_micro`.

Micro AUC is the papers' protocol: every test frame of every video concatenated, one ROC curve.
Macro AUC is the mean of per-video ROC-AUCs over the videos whose frames hold both classes (a
video with one class has no ROC curve); it is reported beside the micro number, labelled as such.

Over subsets of the test videos, split by the video-level label (the name: UCF-Crime `Normal*`,
XD-Violence `_label_A`), as UR-DMU / MGFN / BN-WVAD-era tables print them:
- `frame_auc_abnormal` (AUC_A): ROC-AUC over the frames of the anomalous test videos only (their
  normal frames are the negatives), concatenated as for the micro AUC.
- `frame_ap_abnormal` (AP_A): average precision (as `frame_ap_micro`) over the same frames.
- `frame_far_normal` (FAR): the fraction of the normal test videos' frames scored above the
  threshold (`score > far_threshold`, default 0.5; a score exactly at the threshold is no alarm).
  `far_threshold=None` leaves it NaN (not computed): for a model whose score is not a probability
  (BN-WVAD's DFM x probability) a fixed 0.5 would print a meaningless FAR.
A subset without both classes (AUC_A) or without frames gives NaN (written as null in result files).

Under DDP each rank accumulates its own videos; states are gathered at `compute` and
de-duplicated by (video index, frame index), so a sampler that pads (Lightning's default
DistributedSampler repeats videos to even out ranks) cannot change the result.
"""

from __future__ import annotations

import torch
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score
from torchmetrics import Metric

FRAME_BITS = 32  # key = video_index << 32 | frame_index


def frame_level_metrics(scores: torch.Tensor, labels: torch.Tensor, video_index: torch.Tensor,
                        video_labels: torch.Tensor | None = None, far_threshold: float | None = 0.5) -> dict[str, float]:
    """Compute the metrics from flat per-frame tensors (scores in [0,1] or logits; labels 0/1).

    video_labels: each frame's video-level label (1 = anomalous video); None = a video is anomalous
    when any of its frames is (equal for test sets whose anomalous videos are all annotated)."""
    scores = scores.detach().double().cpu().numpy()
    labels = labels.detach().long().cpu().numpy()
    vids = video_index.detach().long().cpu().numpy()
    if video_labels is None:
        video_labels = _video_labels_from_frames(labels, vids)
    else:
        video_labels = video_labels.detach().long().cpu().numpy()
    out: dict[str, float] = {"num_frames": float(len(labels)), "num_videos": float(len(set(vids.tolist())))}
    if labels.min(initial=0) == labels.max(initial=0):
        raise ValueError(
            "frame-level AUC needs both normal and anomalous frames in the test set; "
            f"all {len(labels)} frames have label {labels[0] if len(labels) else 'n/a'}"
        )
    out["frame_auc_micro"] = float(roc_auc_score(labels, scores))
    out["frame_ap_micro"] = float(average_precision_score(labels, scores))
    out["frame_pr_auc_micro"] = official_pr_auc(labels, scores)
    per_video = []
    order = vids.argsort(kind="stable")
    vids_sorted, labels_sorted, scores_sorted = vids[order], labels[order], scores[order]
    bounds = (vids_sorted[1:] != vids_sorted[:-1]).nonzero()[0] + 1
    for lab, sc in zip(_split(labels_sorted, bounds), _split(scores_sorted, bounds)):
        if lab.min() != lab.max():
            per_video.append(roc_auc_score(lab, sc))
    out["frame_auc_macro"] = float(sum(per_video) / len(per_video)) if per_video else float("nan")
    out["num_videos_macro"] = float(len(per_video))
    out.update(video_subset_metrics(scores, labels, video_labels, far_threshold))
    return out


def video_subset_metrics(scores, labels, video_labels, far_threshold: float | None = 0.5) -> dict[str, float]:
    """AUC_A and AP_A over the anomalous videos' frames, FAR over the normal videos' frames (numpy arrays)."""
    abnormal, normal = video_labels == 1, video_labels == 0
    lab_a, sc_a = labels[abnormal], scores[abnormal]
    both = len(lab_a) and lab_a.min() != lab_a.max()
    return {
        "frame_auc_abnormal": float(roc_auc_score(lab_a, sc_a)) if both else float("nan"),
        "frame_ap_abnormal": float(average_precision_score(lab_a, sc_a)) if both else float("nan"),
        "frame_far_normal": (float((scores[normal] > far_threshold).mean())
                             if normal.any() and far_threshold is not None else float("nan")),
    }


def _video_labels_from_frames(labels, vids):
    """Per frame: 1 when its video has an anomalous frame."""
    import numpy as np

    anomalous = np.unique(vids[labels == 1])
    return np.isin(vids, anomalous).astype(np.int64)


def metric_definitions(far_threshold: float | None = 0.5) -> dict[str, str]:
    """What each frame-level metric of a result file is (written into its `extras.metric_definitions`)."""
    return {
        "frame_auc_micro": "ROC-AUC over all test frames concatenated (the papers' AUC)",
        "frame_auc_macro": "mean of per-video ROC-AUCs over the videos holding both classes",
        "frame_ap_micro": "average precision (scikit-learn, step-wise) over all test frames",
        "frame_pr_auc_micro": "official codes' 'AP' / PR-AUC: auc(recall, precision), trapezoidal, over all test frames",
        "frame_auc_abnormal": "AUC_A: ROC-AUC over the frames of the anomalous test videos only",
        "frame_ap_abnormal": "AP_A: average precision (scikit-learn) over the frames of the anomalous test videos only",
        "frame_far_normal": (f"FAR: fraction of the normal test videos' frames with score > {far_threshold:g}"
                             if far_threshold is not None else
                             "FAR: not computed (far_threshold null: the model's score is not a probability)"),
    }


def official_pr_auc(labels, scores) -> float:
    """The official RTFM/SSRL "PR-AUC": trapezoidal area under scikit-learn's (recall, precision) points."""
    precision, recall, _ = precision_recall_curve(labels, scores)
    return float(auc(recall, precision))


def _split(arr, bounds):
    import numpy as np

    return np.split(arr, bounds)


class FrameAnomalyMetrics(Metric):
    """Accumulates per-snippet scores of test videos and reports frame-level metrics.

    update(snippet_scores (B, T), frame_labels (B, T*F) with -1 padding, snippet_mask (B, T),
    video_index (B,), video_labels (B,) or None): each snippet score is repeated over its F frames
    (F = frames_per_snippet). far_threshold: the FAR's threshold (`frame_far_normal`).
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, frames_per_snippet: int = 16, far_threshold: float | None = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.frames_per_snippet = frames_per_snippet
        self.far_threshold = far_threshold
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")
        self.add_state("keys", default=[], dist_reduce_fx="cat")
        self.add_state("video_labels", default=[], dist_reduce_fx="cat")   # per frame: its video's label

    def update(self, snippet_scores: torch.Tensor, frame_labels: torch.Tensor, snippet_mask: torch.Tensor,
               video_index: torch.Tensor, video_labels: torch.Tensor | None = None) -> None:
        fps = self.frames_per_snippet
        b, t = snippet_scores.shape
        frame_scores = snippet_scores.detach().float().repeat_interleave(fps, dim=1)  # (B, T*F)
        frame_mask = snippet_mask.bool().repeat_interleave(fps, dim=1) & (frame_labels[:, : t * fps] >= 0)
        frame_idx = torch.arange(t * fps, device=frame_scores.device).expand(b, -1)
        keys = (video_index.long().view(-1, 1) << FRAME_BITS) | frame_idx
        self.scores.append(frame_scores[frame_mask])
        self.labels.append(frame_labels[:, : t * fps][frame_mask].long())
        self.keys.append(keys[frame_mask])
        if video_labels is None:   # -1: unknown, taken from the frame labels at compute
            video_labels = torch.full((b,), -1, dtype=torch.long, device=frame_scores.device)
        self.video_labels.append(video_labels.long().view(-1, 1).expand(b, t * fps)[frame_mask])

    def _gathered(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """De-duplicated (scores, labels, keys), sorted by key (video, then frame)."""
        scores, labels, keys, _ = self._gathered_with_video_labels()
        return scores, labels, keys

    def _gathered_with_video_labels(self):
        scores, labels, keys, vlabels = (_cat(x) for x in (self.scores, self.labels, self.keys, self.video_labels))
        keys, first = _first_occurrence(keys)
        return scores[first], labels[first], keys, vlabels[first]

    def compute(self) -> dict[str, float]:
        scores, labels, keys, vlabels = self._gathered_with_video_labels()
        known = None if bool((vlabels < 0).any()) else vlabels
        return frame_level_metrics(scores, labels, keys >> FRAME_BITS, known, self.far_threshold)

    def per_video(self) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
        """video index -> (snippet scores (T,), frame labels (<= T*F,)), from the synced states."""
        with self.sync_context():
            scores, labels, keys = self._gathered()
        vids, frames = keys >> FRAME_BITS, keys & ((1 << FRAME_BITS) - 1)
        out = {}
        for v in torch.unique(vids).tolist():
            sel = vids == v
            f, s, lab = frames[sel], scores[sel], labels[sel]
            out[v] = (s[f % self.frames_per_snippet == 0].cpu(), lab.cpu())
        return out


def _cat(x):
    return torch.cat(x) if isinstance(x, list) else x


def _first_occurrence(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique keys and the index of one occurrence of each (drops frames a padded sampler repeated)."""
    uniq, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full((len(uniq),), len(keys), dtype=torch.long, device=keys.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(keys), device=keys.device), reduce="amin")
    return uniq, first
