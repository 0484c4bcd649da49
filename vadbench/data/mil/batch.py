"""The typed batch of the MIL pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class MILBatch:
    """A batch of videos as snippet features.

    features:     (B, T, C, D) clip features: B videos, T snippets, C crops (1 for [T, D] files), D dims.
    labels:       (B,) video-level labels, 1 = anomalous. Training batches hold B/2 normal videos
                  first, then B/2 anomalous ones.
    mask:         (B, T) bool, True for real snippets (False = padding of shorter videos).
    video_index:  (B,) index of each video in its split (unique per video; used to de-duplicate under DDP).
    frame_labels: (B, T*F) frame-level ground truth (test only), -1 on padding; F = frames per snippet.
    patches:      scale name (e.g. "patch23") -> (B, T, P, D) patch features, when configured.
    frames_per_snippet: F, a data fact (extraction sidecar or data config) carried by evaluation
                  batches, so frame scores are built with the same F as `frame_labels`.
    """

    features: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    video_index: torch.Tensor
    frame_labels: torch.Tensor | None = None
    patches: dict[str, torch.Tensor] = field(default_factory=dict)
    frames_per_snippet: int | None = None

    @property
    def batch_size(self) -> int:
        return self.features.shape[0]

    def pin_memory(self) -> "MILBatch":
        """Page-locked copy (called by a DataLoader with `pin_memory=True`) for asynchronous host-to-GPU copies."""
        return MILBatch(self.features.pin_memory(), self.labels.pin_memory(), self.mask.pin_memory(),
                        self.video_index.pin_memory(),
                        None if self.frame_labels is None else self.frame_labels.pin_memory(),
                        {k: v.pin_memory() for k, v in self.patches.items()})

    def __len__(self) -> int:  # Lightning infers the batch size from len() of dataclass batches
        return self.batch_size
