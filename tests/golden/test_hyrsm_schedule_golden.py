"""HyRSM's learning-rate schedule in the packaged configs against the official one (tests/golden/data/
hyrsm_official_lr.npz: the official `lr_policy` driven as the official training loop drives it), and
the official weight-decay groups (none on normalisation layers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.golden.official import load
from vadbench.models.hyrsm import HyRSM, HyRSMModel
from vadbench.models.hyrsm.schedule import HyRSMOfficialLR
from vadbench.paths import load_config


@pytest.mark.parametrize("dataset", ["hmdb51", "kinetics100"])
def test_packaged_schedule_matches_official(dataset):
    arrays, _ = load("hyrsm_official_lr")
    model = load_config(f"hyrsm/{dataset}_5w1s.yaml")["model"]["init_args"]
    base_lr = float(model["optimizer"]["init_args"]["lr"])
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    scheduler = HyRSMOfficialLR(optimizer, **model["scheduler"]["init_args"])
    rates = []
    for _ in range(len(arrays[f"{dataset}_lr_per_step"])):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(rates, arrays[f"{dataset}_lr_per_step"], rtol=1e-12, atol=0)


def test_norm_parameters_get_their_own_weight_decay():
    module = HyRSM(net=HyRSMModel("resnet_tiny", num_classes=3), norm_weight_decay=0.0,
                   optimizer=lambda params: torch.optim.Adam(params, lr=1e-4, weight_decay=1e-3))
    optimizer = module.configure_optimizers()
    decayed, free = optimizer.param_groups
    assert decayed["weight_decay"] == 1e-3 and free["weight_decay"] == 0.0
    free_ids = {id(p) for p in free["params"]}
    assert {id(p) for p in module.net.intra.norm.parameters()} <= free_ids
    assert {id(p) for p in module.net.inter.norm.parameters()} <= free_ids
    assert id(module.net.fuse.weight) not in free_ids
    assert len(decayed["params"]) + len(free["params"]) == len([p for p in module.parameters() if p.requires_grad])
