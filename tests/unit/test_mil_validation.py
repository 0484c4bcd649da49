"""Unit checks of the pre-training validation helpers and the resumable loader."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vadbench.data.mil import validation
from vadbench.data.mil.features import FeatureFileError
from vadbench.data.samplers import EpochForwardingSampler, ResumableDataLoader
from vadbench.errors import ConfigError, VadbenchError


def test_scan_finite_finds_a_nan_in_a_late_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(validation, "_CHUNK_BYTES", 64)  # many small chunks
    arr = np.ones((50, 2, 4), np.float32)
    arr[47, 1, 2] = np.nan
    np.save(tmp_path / "v.npy", arr)
    with pytest.raises(FeatureFileError, match=r"v.npy: contains NaN/Inf \(first at index \(47, 1, 2\)\)"):
        validation.scan_finite(tmp_path / "v.npy")
    arr[47, 1, 2] = 0
    np.save(tmp_path / "v.npy", arr)
    validation.scan_finite(tmp_path / "v.npy")


def test_sidecar_facts_agree_or_name_both_files(tmp_path):
    facts = validation.ExtractionFacts()
    for name, stride in (("a", 8), ("b", 8), ("c", 16)):
        np.save(tmp_path / f"{name}.npy", np.zeros((3, 4), np.float32))
        (tmp_path / f"{name}.npy.json").write_text(json.dumps({"settings": {"stride": stride, "snippet_len": stride},
                                                               "video": {"shape": [3, 4]}}))
    facts.add(tmp_path / "a.npy", validation.read_sidecar(tmp_path / "a.npy"))
    facts.add(tmp_path / "b.npy", validation.read_sidecar(tmp_path / "b.npy"))
    assert facts.frames_per_snippet == 8
    with pytest.raises(FeatureFileError, match=r"c.npy.json has snippet_len = 16 but .*a.npy.json has snippet_len = 8"):
        facts.add(tmp_path / "c.npy", validation.read_sidecar(tmp_path / "c.npy"))
    with pytest.raises(ConfigError, match="frames_per_snippet is 16 but .* stride = 8"):
        facts.check_config("data.init_args.frames_per_snippet", 16, "stride")
    facts.check_config("data.init_args.frames_per_snippet", 8, "stride")
    # a sidecar whose recorded shape no longer matches its array: the file changed after extraction
    np.save(tmp_path / "a.npy", np.zeros((5, 4), np.float32))
    with pytest.raises(FeatureFileError, match=r"shape \[5, 4\] but its sidecar .* records \[3, 4\]"):
        validation.read_sidecar(tmp_path / "a.npy")
    (tmp_path / "b.npy.json").write_text("{not json")
    with pytest.raises(VadbenchError, match="b.npy.json is not readable JSON"):
        validation.read_sidecar(tmp_path / "b.npy")


def test_resumable_loader_skips_the_batches_already_done_in_that_epoch():
    data = list(range(20))
    loader = ResumableDataLoader(data, batch_size=3, sampler=EpochForwardingSampler(data), drop_last=True,
                                 generator=torch.Generator().manual_seed(0))
    full = [b.tolist() for b in loader]
    it = iter(loader)
    next(it), next(it)
    state = loader.state_dict()
    assert state == {"epoch": 0, "batches_done": 2}
    fresh = ResumableDataLoader(data, batch_size=3, sampler=EpochForwardingSampler(data), drop_last=True,
                                generator=torch.Generator().manual_seed(0))
    fresh.load_state_dict(state)
    assert [b.tolist() for b in fresh] == full[2:]
    assert [b.tolist() for b in fresh] == full  # the skip applies once
    # a position saved at the end of an epoch, or for another epoch, skips nothing
    fresh.load_state_dict({"epoch": 0, "batches_done": len(full)})
    assert [b.tolist() for b in fresh] == full
    fresh.load_state_dict({"epoch": 3, "batches_done": 2})
    assert [b.tolist() for b in fresh] == full
    before = torch.get_rng_state()
    list(fresh)
    assert torch.equal(before, torch.get_rng_state())  # iterating draws nothing from the global RNG
    list(ResumableDataLoader(data, batch_size=3))  # (a loader without its own generator does)
    assert not torch.equal(before, torch.get_rng_state())
