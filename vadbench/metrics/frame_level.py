"""Frame-level anomaly metrics: ROC-AUC (micro and macro), AP and the official PR-AUC, exact under DDP.

Two precision-recall summaries, both over all test frames, labelled differently on purpose:
- `frame_ap_micro`: average precision (scikit-learn `average_precision_score`, a step-wise sum).
- `frame_pr_auc_micro`: the number the official RTFM / SSRL code reports as "PR-AUC":
  `auc(recall, precision)` of scikit-learn's `precision_recall_curve`, a trapezoidal area (it
  interpolates linearly between operating points, which AP does not). The two differ, typically in
  the second decimal; compare a paper's AP column with `frame_pr_auc_micro`.

Micro AUC is the papers' protocol: every test frame of every video concatenated, one ROC curve.
Macro AUC is the mean of per-video ROC-AUCs over the videos whose frames hold both classes (a
video with one class has no ROC curve); it is reported beside the micro number, labelled as such.

Under DDP each rank accumulates its own videos; states are gathered at `compute` and
de-duplicated by (video index, frame index), so a sampler that pads (Lightning's default
DistributedSampler repeats videos to even out ranks) cannot change the result.
"""

from __future__ import annotations

import torch
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score
from torchmetrics import Metric

FRAME_BITS = 32  # key = video_index << 32 | frame_index


def frame_level_metrics(scores: torch.Tensor, labels: torch.Tensor, video_index: torch.Tensor) -> dict[str, float]:
    """Compute the metrics from flat per-frame tensors (scores in [0,1] or logits; labels 0/1)."""
    scores = scores.detach().double().cpu().numpy()
    labels = labels.detach().long().cpu().numpy()
    vids = video_index.detach().long().cpu().numpy()
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
    return out


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
    video_index (B,)): each snippet score is repeated over its F frames (F = frames_per_snippet).
    """

    full_state_update = False
    higher_is_better = True

    def __init__(self, frames_per_snippet: int = 16, **kwargs):
        super().__init__(**kwargs)
        self.frames_per_snippet = frames_per_snippet
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")
        self.add_state("keys", default=[], dist_reduce_fx="cat")

    def update(self, snippet_scores: torch.Tensor, frame_labels: torch.Tensor, snippet_mask: torch.Tensor,
               video_index: torch.Tensor) -> None:
        fps = self.frames_per_snippet
        b, t = snippet_scores.shape
        frame_scores = snippet_scores.detach().float().repeat_interleave(fps, dim=1)  # (B, T*F)
        frame_mask = snippet_mask.bool().repeat_interleave(fps, dim=1) & (frame_labels[:, : t * fps] >= 0)
        frame_idx = torch.arange(t * fps, device=frame_scores.device).expand(b, -1)
        keys = (video_index.long().view(-1, 1) << FRAME_BITS) | frame_idx
        self.scores.append(frame_scores[frame_mask])
        self.labels.append(frame_labels[:, : t * fps][frame_mask].long())
        self.keys.append(keys[frame_mask])

    def _gathered(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """De-duplicated (scores, labels, keys), sorted by key (video, then frame)."""
        scores, labels, keys = (_cat(x) for x in (self.scores, self.labels, self.keys))
        keys, first = _first_occurrence(keys)
        return scores[first], labels[first], keys

    def compute(self) -> dict[str, float]:
        scores, labels, keys = self._gathered()
        return frame_level_metrics(scores, labels, keys >> FRAME_BITS)

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
