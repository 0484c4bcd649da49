"""Step-by-step training: stage k really starts from stage k-1 and its frozen parts stay bit-identical."""

import pytest
import torch

from vadbench.data.mil.batch import MILBatch
from tests.mil_modules import magnitude_module
from vadbench.models.components.staging import StageCheckpointError
from vadbench.models.ssrl import SSRL, SSRLModel


def ssrl(**kwargs):
    return magnitude_module(SSRL, SSRLModel, **kwargs)


def _batch(scales, d=16, b=2, t=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    grids = {"patch23": 6, "patch35": 15, "patch47": 28}
    return MILBatch(features=torch.rand(2 * b, t, 2, d, generator=g), labels=torch.tensor([0.0] * b + [1.0] * b),
                    mask=torch.ones(2 * b, t, dtype=torch.bool), video_index=torch.arange(2 * b),
                    patches={s: torch.rand(2 * b, t, grids[s], d, generator=g) for s in scales})


def _train(module, scales, steps=3):
    module.train()
    opt = module.configure_optimizers()
    for i in range(steps):
        loss = module.training_step(_batch(scales, seed=i), i)
        opt.zero_grad()
        loss.backward()
        opt.step()


def _save(module, path):
    torch.save({"state_dict": module.state_dict()}, path)
    return str(path)


def test_stage_k_starts_from_stage_k_minus_1_and_trains_only_the_new_branch(tmp_path):
    torch.manual_seed(0)
    stage1 = ssrl(feature_dim=16, patch_scales=[])
    _train(stage1, [])
    ckpt1 = _save(stage1, tmp_path / "stage1.ckpt")

    torch.manual_seed(1)  # a different init: every loaded tensor must come from the checkpoint
    stage2 = ssrl(feature_dim=16, patch_scales=["patch23"], stage_checkpoint=ckpt1)
    assert not torch.equal(stage2.model.relation.fuse[0].weight, stage1.model.relation.fuse[0].weight)
    stage2.setup("fit")
    before = {k: v.clone() for k, v in stage2.state_dict().items()}
    for k, v in stage1.state_dict().items():
        assert torch.equal(before[k], v), k                          # really loaded
    assert set(stage2.stage_keys["new"]) == {k for k in before if k.startswith(("model.psr.", "model.mpa."))}
    trainable = {n for n, p in stage2.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("model.psr.patch23", "model.mpa.patch23")) for n in trainable)

    _train(stage2, ["patch23"])
    after = stage2.state_dict()
    for k in stage1.state_dict():                                    # frozen: weights and BN stats
        assert torch.equal(after[k], before[k]), k
    assert not torch.equal(after["model.mpa.patch23.fc.0.weight"], before["model.mpa.patch23.fc.0.weight"])
    assert not torch.equal(after["model.mpa.patch23.conv.2.running_mean"], before["model.mpa.patch23.conv.2.running_mean"])

    ckpt2 = _save(stage2, tmp_path / "stage2.ckpt")
    stage3 = ssrl(feature_dim=16, patch_scales=["patch23", "patch35"], stage_checkpoint=ckpt2)
    stage3.setup("fit")
    for k, v in stage2.state_dict().items():
        assert torch.equal(stage3.state_dict()[k], v), k
    assert all(n.startswith(("model.psr.patch35", "model.mpa.patch35"))
               for n, p in stage3.named_parameters() if p.requires_grad)


def test_shared_psr_trains_once_then_stays_frozen(tmp_path):
    s1 = ssrl(feature_dim=16, patch_scales=[], share_psr=True)
    s2 = ssrl(feature_dim=16, patch_scales=["patch23"], share_psr=True, stage_checkpoint=_save(s1, tmp_path / "a"))
    s2.setup("fit")
    assert all(p.requires_grad for p in s2.model.shared_psr.parameters())
    s3 = ssrl(feature_dim=16, patch_scales=["patch23", "patch35"], share_psr=True,
              stage_checkpoint=_save(s2, tmp_path / "b"))
    s3.setup("fit")
    assert not any(p.requires_grad for p in s3.model.shared_psr.parameters())
    assert all(p.requires_grad for p in s3.model.mpa["patch35"].parameters())


def test_unfrozen_stage_trains_everything(tmp_path):
    s1 = ssrl(feature_dim=16, patch_scales=[])
    s2 = ssrl(feature_dim=16, patch_scales=["patch23"], stage_checkpoint=_save(s1, tmp_path / "a"), freeze_loaded=False)
    s2.setup("fit")
    assert all(p.requires_grad for p in s2.parameters())


def test_bad_stage_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="stage checkpoint"):
        ssrl(feature_dim=16, stage_checkpoint=str(tmp_path / "missing.ckpt")).setup("fit")
    other_dim = _save(ssrl(feature_dim=32, patch_scales=[]), tmp_path / "d32")
    with pytest.raises(StageCheckpointError, match="shape differs"):
        ssrl(feature_dim=16, stage_checkpoint=other_dim).setup("fit")
    bigger = _save(ssrl(feature_dim=16, patch_scales=["patch47"]), tmp_path / "big")
    with pytest.raises(StageCheckpointError, match="not in this model"):
        ssrl(feature_dim=16, patch_scales=["patch23"], stage_checkpoint=bigger).setup("fit")
    same = _save(ssrl(feature_dim=16, patch_scales=["patch23"]), tmp_path / "same")
    with pytest.raises(ValueError, match="nothing would train"):
        ssrl(feature_dim=16, patch_scales=["patch23"], stage_checkpoint=same).setup("fit")
    (tmp_path / "junk").write_text("not a checkpoint")
    with pytest.raises(StageCheckpointError, match="not a readable"):
        ssrl(feature_dim=16, stage_checkpoint=str(tmp_path / "junk")).setup("fit")
