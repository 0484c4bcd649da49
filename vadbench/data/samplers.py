"""Samplers that keep evaluation exact under DDP.

`EvalDistributedSampler` gives rank r the items r, r+W, r+2W, ... with no padding, so every test
video (or episode) is seen exactly once whatever the number of processes. It subclasses
DistributedSampler so Lightning keeps it instead of injecting its own padded sampler.
"""

from __future__ import annotations

import itertools

from torch.utils.data import DataLoader, Dataset, DistributedSampler


class EvalDistributedSampler(DistributedSampler):
    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False, drop_last=False)

    skip = 0  # items of this rank to skip once (set by ResumableDataLoader on a mid-epoch resume)

    def __iter__(self):
        skip, self.skip = self.skip, 0
        return iter(range(self.rank + skip * self.num_replicas, len(self.dataset), self.num_replicas))

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


class ResumableDataLoader(DataLoader):
    """A DataLoader whose position in the epoch is saved in checkpoints (Lightning's stateful loading).

    Lightning stores `state_dict()` of every training loader that has one in the checkpoint, and on a
    mid-epoch resume calls `load_state_dict()` before iterating again: the next iteration then skips
    the batches the interrupted run had already trained on, so the resumed run sees exactly the
    batches an uninterrupted run would. For samplers whose order is a function of (epoch, index)
    (`EpochForwardingSampler` over the balanced MIL pairs), skipping is exact and reads no data.
    """

    _batches_done = 0
    _skip_batches = 0

    _skip_epoch = None

    def __iter__(self):
        skip, self._skip_batches = self._skip_batches, 0
        if skip and self._skip_epoch is not None and getattr(self.sampler, "epoch", 0) != self._skip_epoch:
            skip = 0  # the saved position belongs to an epoch that is not the one starting now
        self._batches_done = skip
        if skip and hasattr(self.sampler, "skip"):
            self.sampler.skip = skip * (self.batch_size or 1)
            yield from self._count(super().__iter__())
        else:  # a sampler that cannot skip: draw the batches already trained on and drop them
            yield from self._count(itertools.islice(super().__iter__(), skip, None))

    def _count(self, it):
        for batch in it:
            self._batches_done += 1
            yield batch

    def state_dict(self) -> dict:
        epoch = getattr(self.sampler, "epoch", 0)
        return {"epoch": int(epoch), "batches_done": int(self._batches_done)}

    def load_state_dict(self, state: dict) -> None:
        done = int(state.get("batches_done", 0))
        # a checkpoint written after the last batch of an epoch: the next epoch starts from its beginning
        self._skip_batches = done if done < len(self) else 0
        self._skip_epoch = state.get("epoch")
