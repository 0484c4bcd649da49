"""Samplers that keep evaluation exact under DDP.

`EvalDistributedSampler` gives rank r the items r, r+W, r+2W, ... with no padding, so every test
video (or episode) is seen exactly once whatever the number of processes. It subclasses
DistributedSampler so Lightning keeps it instead of injecting its own padded sampler.
"""

from __future__ import annotations

from torch.utils.data import Dataset, DistributedSampler


class EvalDistributedSampler(DistributedSampler):
    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)

    def __iter__(self):
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self) -> int:
        n = len(self.dataset)
        return max(0, (n - self.rank + self.num_replicas - 1) // self.num_replicas)


def eval_sampler_for(dataset: Dataset, trainer) -> EvalDistributedSampler:
    """The exact-once sampler for the trainer's world (1 process when there is no trainer)."""
    world = getattr(trainer, "world_size", 1) if trainer is not None else 1
    rank = getattr(trainer, "global_rank", 0) if trainer is not None else 0
    return EvalDistributedSampler(dataset, num_replicas=world, rank=rank)


class EpochForwardingSampler(EvalDistributedSampler):
    """Sequential, rank-split sampler that forwards `set_epoch` to its dataset.

    For datasets whose items are a pure function of (seed, epoch, index), such as the balanced
    MIL pairs: Lightning calls `set_epoch` every epoch, so every epoch draws new pairs.
    """

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
