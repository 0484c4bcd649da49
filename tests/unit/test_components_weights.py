"""The one weight loader (vadbench/models/components/weights.py): unwrapping, strict fit, errors naming the file."""

import argparse

import pytest
import torch
from torch import nn

from vadbench.models.components.weights import WeightsError, load_weights, normalise_state_dict, read_state_dict


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


def test_lightning_checkpoint_state_dict_is_read_only_when_trusted(tmp_path):
    net = _net()
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": net.state_dict(), "epoch": 3, "hparams": argparse.Namespace(lr=0.1)}, path)
    with pytest.raises(WeightsError, match="last.ckpt is not a readable torch checkpoint"):
        read_state_dict(path)                                   # pickled objects: refused unless trusted
    state = read_state_dict(path, trusted=True)
    assert list(state) == list(net.state_dict()) and torch.equal(state["0.weight"], net[0].weight)
    with pytest.raises(WeightsError, match="nothing.ckpt"):
        read_state_dict(tmp_path / "nothing.ckpt")


def test_load_weights_strips_one_wrapper_prefix_drops_heads_and_checks_shapes(tmp_path):
    source, target = _net(), nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 5))
    with torch.no_grad():
        source[1].running_mean.fill_(0.5)
    torch.save({"model": {f"module.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "w.pth")
    assert "0.weight" in normalise_state_dict(torch.load(tmp_path / "w.pth")["model"], "w.pth")
    load_weights(target, tmp_path / "w.pth", drop=("2.",))       # the 2-way head is not the 5-way one: dropped
    assert torch.equal(target[0].weight, source[0].weight) and float(target[1].running_mean[0]) == 0.5
    with pytest.raises(WeightsError, match=r"w.pth does not fit backbone Sequential: 2 with the wrong shape"):
        load_weights(target, tmp_path / "w.pth")
    with pytest.raises(WeightsError, match=r"w.pth does not fit backbone small net: 2 unexpected"):
        load_weights(nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), tmp_path / "w.pth", allow_unexpected=False,
                     name="small net")
