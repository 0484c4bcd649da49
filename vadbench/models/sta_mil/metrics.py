"""Frame-level metrics plus the score gap of STA-MIL's Table 2.

STA-MIL Sec. 3.1: "we calculate the average score of all negative and positive instances and
compare the score gap". Here an instance is a test frame (each carries its snippet's score, the
same frames and scores the frame-level AUC uses), labelled by the official frame-level ground truth:

    score_mean_negative = mean score of the normal frames
    score_mean_positive = mean score of the anomalous frames
    score_gap           = score_mean_positive - score_mean_negative

Exact under DDP: the states are de-duplicated by (video, frame) exactly as for the AUC.
"""

from __future__ import annotations

import torch

from vadbench.metrics.frame_level import FrameAnomalyMetrics, _cat, _first_occurrence


def score_gap(scores: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Flat per-frame scores and 0/1 labels -> mean negative score, mean positive score, their gap."""
    neg, pos = scores[labels == 0], scores[labels == 1]
    if len(neg) == 0 or len(pos) == 0:
        raise ValueError(f"the score gap needs normal and anomalous frames; got {len(neg)} normal and "
                         f"{len(pos)} anomalous")
    mean_neg, mean_pos = float(neg.double().mean()), float(pos.double().mean())
    return {"score_mean_negative": mean_neg, "score_mean_positive": mean_pos, "score_gap": mean_pos - mean_neg}


class FrameMetricsWithScoreGap(FrameAnomalyMetrics):
    """`FrameAnomalyMetrics` (AUC, AP) + `score_gap` over the same de-duplicated frames."""

    def compute(self) -> dict[str, float]:
        out = super().compute()
        scores, labels, keys = (_cat(x) for x in (self.scores, self.labels, self.keys))
        _, first = _first_occurrence(keys)
        out.update(score_gap(scores[first], labels[first]))
        return out
