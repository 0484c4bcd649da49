"""The typed batch of the episodic few-shot pipeline: one episode (task) per batch."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class FewShotBatch:
    """One C-way K-shot episode with Q queries per class.

    support:        (C*K, T, 3, H, W) normalised frames, class-major (the K shots of class 0 first),
                    or None when the datamodule sends video ids only (test with embedding cache).
    support_labels: (C*K,) episode labels in [0, C).
    query:          (C*Q, T, 3, H, W) or None, class-major like the support set.
    query_labels:   (C*Q,) episode labels in [0, C).
    support_ids:    (C*K,) index of each support video in its split (keys of the embedding cache).
    query_ids:      (C*Q,) index of each query video in its split.
    class_ids:      (C,) index in the split's class list of each episode class.
    episode_index:  () index of the episode (de-duplicates test episodes across DDP ranks).
    """

    support: torch.Tensor | None
    support_labels: torch.Tensor
    query: torch.Tensor | None
    query_labels: torch.Tensor
    support_ids: torch.Tensor
    query_ids: torch.Tensor
    class_ids: torch.Tensor
    episode_index: torch.Tensor

    @property
    def way(self) -> int:
        return int(self.class_ids.numel())

    @property
    def shot(self) -> int:
        return int(self.support_labels.numel()) // self.way

    @property
    def queries_per_class(self) -> int:
        return int(self.query_labels.numel()) // self.way

    def __len__(self) -> int:  # one episode; Lightning reads len() of dataclass batches as batch size
        return 1
