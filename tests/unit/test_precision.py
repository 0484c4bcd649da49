"""Float32 islands under bf16 autocast (`vadbench.models.components.precision`) and the metrics'
precision: scores reach the metrics as float32 and the metrics compute in float64."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from vadbench.metrics.episodic import EpisodeAccuracy
from vadbench.metrics.frame_level import FrameAnomalyMetrics
from vadbench.models.components.precision import autocast_off, in_float32, islands_off, upcast


@dataclass
class Outputs:
    logits: torch.Tensor
    extra: list


def test_upcast_lifts_bf16_and_fp16_only():
    bf, half, f32, f64 = (torch.ones(2, dtype=d) for d in (torch.bfloat16, torch.float16, torch.float32, torch.float64))
    out = upcast({"a": [bf, half], "b": (f32, f64), "c": Outputs(bf, [half]), "d": 3})
    assert [t.dtype for t in out["a"]] == [torch.float32, torch.float32]
    assert out["b"][0] is f32 and out["b"][1] is f64          # float32 and float64 pass unchanged (golden tests)
    assert out["c"].logits.dtype == torch.float32 and out["c"].extra[0].dtype == torch.float32 and out["d"] == 3


def test_in_float32_runs_with_autocast_off_and_upcast_inputs():
    seen = {}

    @in_float32
    def island(x, w):
        seen["autocast"] = torch.is_autocast_enabled("cpu")
        seen["dtype"] = x.dtype
        return x @ w

    x, w = torch.randn(4, 8), torch.randn(8, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outside = x @ w
        inside = island(x.bfloat16(), w)
        with autocast_off():
            assert not torch.is_autocast_enabled("cpu")
        assert torch.is_autocast_enabled("cpu")
    assert outside.dtype == torch.bfloat16 and inside.dtype == torch.float32
    assert seen == {"autocast": False, "dtype": torch.float32}
    with islands_off(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert island(x.bfloat16(), w).dtype == torch.bfloat16 and seen["autocast"]


def test_frame_metrics_store_float32_scores_and_compute_in_float64():
    """Scores of a bf16 model are stored as float32 and the AUC is scikit-learn's on their float64 values."""
    rng = np.random.default_rng(0)
    scores = torch.from_numpy(rng.random((2, 6))).to(torch.bfloat16)
    labels = torch.tensor([[0] * 32 + [1] * 32 + [0] * 32, [1] * 48 + [0] * 48])
    metric = FrameAnomalyMetrics(frames_per_snippet=16)
    metric.update(scores, labels, torch.ones(2, 6, dtype=torch.bool), torch.tensor([0, 1]))
    assert all(s.dtype == torch.float32 for s in metric.scores)
    expected = roc_auc_score(labels.flatten().numpy(), scores.float().repeat_interleave(16, 1).flatten().double().numpy())
    assert metric.compute()["frame_auc_micro"] == pytest.approx(expected, abs=0)


def test_episode_accuracy_states_are_float64():
    metric = EpisodeAccuracy()
    metric.update(torch.tensor(0.5, dtype=torch.bfloat16), torch.tensor(0))
    assert metric.accuracy[0].dtype == torch.float64
