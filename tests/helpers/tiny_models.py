"""Tiny builds of every discovered model for the device and precision tests, built once per process.

`tiny_model(name)` returns a fresh copy of the model (the tests move it, change its dropout, train
it), its datamodule and its batches (`vadbench.benchmarks.zoo`: the model's synthetic experiment
with tiny data). Batches are shared: tests move copies of them, never the batches themselves.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass

from vadbench.benchmarks.zoo import BuiltModel, build, evaluation_batches, first_train_batch


@dataclass
class TinyModel:
    built: BuiltModel
    module: object
    train: object            # the first training batch
    evaluation: list         # every test batch (few-shot: with frames)
    ids_only: list           # few-shot: the test batches as under the embedding cache (video ids only)

    @property
    def kind(self) -> str:
        return self.built.kind

    @property
    def datamodule(self):
        return self.built.datamodule


@functools.lru_cache(maxsize=None)
def _built(name: str) -> tuple[BuiltModel, object, list, list]:
    built = build(name)
    dm = built.datamodule
    train, evaluation = first_train_batch(dm), evaluation_batches(dm)
    ids_only = evaluation_batches(dm, frames=False) if built.kind == "fewshot" else []
    return built, train, evaluation, ids_only


def tiny_model(name: str) -> TinyModel:
    built, train, evaluation, ids_only = _built(name)
    return TinyModel(built, copy.deepcopy(built.module), train, evaluation, ids_only)
