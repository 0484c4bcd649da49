"""Few-shot episode accuracy: mean over test episodes with its 95% confidence interval."""

from __future__ import annotations

import math

import torch
from torchmetrics import Metric


def mean_confidence_interval(accuracies: torch.Tensor) -> tuple[float, float]:
    """Mean and 95% CI half-width (1.96 * std / sqrt(N)) of per-episode accuracies."""
    acc = accuracies.double().flatten()
    n = acc.numel()
    if n == 0:
        raise ValueError("no test episodes were evaluated")
    std = acc.std(unbiased=False).item() if n > 1 else 0.0
    return acc.mean().item(), 1.96 * std / math.sqrt(n)


class EpisodeAccuracy(Metric):
    """Per-episode accuracy, gathered across ranks and de-duplicated by episode index."""

    full_state_update = False
    higher_is_better = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("accuracy", default=[], dist_reduce_fx="cat")
        self.add_state("episode", default=[], dist_reduce_fx="cat")

    def update(self, accuracy: torch.Tensor, episode_index: torch.Tensor) -> None:
        self.accuracy.append(accuracy.detach().double().flatten())
        self.episode.append(episode_index.detach().long().flatten())

    def compute(self) -> dict[str, float]:
        acc = torch.cat(self.accuracy) if isinstance(self.accuracy, list) else self.accuracy
        ep = torch.cat(self.episode) if isinstance(self.episode, list) else self.episode
        uniq, inverse = torch.unique(ep, return_inverse=True)
        first = torch.full((len(uniq),), len(ep), dtype=torch.long, device=ep.device)
        first.scatter_reduce_(0, inverse, torch.arange(len(ep), device=ep.device), reduce="amin")
        mean, ci = mean_confidence_interval(acc[first])
        return {"accuracy": mean, "accuracy_ci95": ci, "num_episodes": float(len(uniq))}
