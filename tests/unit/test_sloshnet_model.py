"""SloshNet's wiring: the test-time embedding cache (fused maps per video) equals recomputation, the official
two-optimizer split (Adam for the fusion cell's alphas only) and its schedule, bad inputs, the shared
`ResNetStages`. The equations themselves: tests/golden/test_sloshnet_golden.py."""

import pytest
import torch

from tests.helpers.fewshot_cache import check_cached_episodes, metrics_with_and_without_cache
from vadbench.models.components.backbones import ResNetStages
from vadbench.models.sloshnet import SGDWithArchitectureAdam, SloshNet, SloshNetModel, SloshNetOfficialLR
from vadbench.models.trx import TRXHeadConfig


def _net(**kwargs) -> SloshNetModel:
    torch.manual_seed(0)
    return SloshNetModel(backbone="resnet_tiny", head=TRXHeadConfig(seq_len=4, cardinalities=(1, 2), proj_dim=16),
                         **kwargs)


def _model(cache: bool) -> SloshNet:
    return SloshNet(net=_net(), cache_eval_embeddings=cache, embed_chunk=5)


def test_trainer_test_accuracy_identical_with_and_without_cache(tmp_path):
    results = metrics_with_and_without_cache(_model, tmp_path, episodes=4)
    assert results[True]["test/accuracy"] == pytest.approx(results[False]["test/accuracy"], abs=0)
    assert results[True]["test/accuracy_ci95"] == pytest.approx(results[False]["test/accuracy_ci95"], abs=1e-12)


def test_cached_episodes_equal_recomputed_ones(tmp_path):
    check_cached_episodes(_model, tmp_path, episodes=3)


def test_resnet_stages_are_the_four_stage_maps():
    stages = ResNetStages("resnet_tiny")
    assert stages.dims == [16, 32, 64, 128]
    maps = stages(torch.randn(2, 3, 56, 56))
    assert [tuple(m.shape) for m in maps] == [(2, 16, 14, 14), (2, 32, 7, 7), (2, 64, 4, 4), (2, 128, 2, 2)]
    stages.eval()
    x = torch.randn(2, 3, 56, 56)
    with torch.no_grad():   # the last stage is what the pooled ResNet pools
        torch.testing.assert_close(stages(x)[-1].mean(dim=(-2, -1)), stages.net(x))


def test_embed_gives_fused_maps_and_forward_logits():
    net = _net().eval()
    frames = torch.rand(4, 4, 3, 56, 56)
    with torch.no_grad():
        fused = net.embed(frames)
        assert fused.shape == (4, 4, 128, 2, 2)
        logits = net(fused[:2], torch.tensor([1, 0]), fused[2:], 2)
    assert logits.shape == (2, 2) and torch.isfinite(logits).all()


def test_unequal_shots_and_wrong_shapes_are_refused():
    net = _net().eval()
    with pytest.raises(ValueError, match="same number of shots"):
        net(torch.randn(3, 4, 128, 2, 2), torch.tensor([0, 0, 1]), torch.randn(2, 4, 128, 2, 2), 2)
    with pytest.raises(ValueError, match="fused maps"):
        net(torch.randn(2, 4, 128), torch.tensor([0, 1]), torch.randn(2, 4, 128), 2)
    with pytest.raises(ValueError, match="frames per video"):
        net(torch.randn(2, 5, 128, 2, 2), torch.tensor([0, 1]), torch.randn(2, 5, 128, 2, 2), 2)
    with pytest.raises(ValueError, match="long_term_attention"):
        _net(long_term_attention="time")


def test_frames_attention_keeps_videos_apart_official_does_not():
    """`frames`: a video's features do not depend on the other videos of its batch; `official`: they do."""
    x = torch.randn(3, 4, 128, 2, 2)
    for mode, independent in (("frames", True), ("official", False)):
        net = _net(long_term_attention=mode).eval()
        with torch.no_grad():
            alone, together = net.temporal(x[:1]), net.temporal(x)[:1]
        assert torch.allclose(alone, together, atol=1e-6) is independent


def test_official_optimizers_alphas_get_adam_the_rest_sgd():
    module = SloshNet(net=_net())
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, SGDWithArchitectureAdam)
    alphas = {id(p) for p in module.net.fusion.alphas}
    adam = {id(p) for g in optimizer.architecture.param_groups for p in g["params"]}
    sgd = {id(p) for g in optimizer.weights.param_groups for p in g["params"]}
    assert adam == alphas and not (sgd & alphas)
    assert id(module.net.level_weights) in sgd and id(module.net.temporal_weights) in sgd   # official: list(beta1) bug
    assert optimizer.weights.defaults["momentum"] == 0.9 and optimizer.weights.defaults["weight_decay"] == 3e-4
    assert optimizer.architecture.defaults["betas"] == (0.5, 0.999) and optimizer.architecture.defaults["lr"] == 3e-3
    # one step moves both; the state round-trips
    for p in module.parameters():
        p.grad = torch.ones_like(p)
    before = [p.detach().clone() for p in module.net.fusion.alphas] + [module.net.level_weights.detach().clone()]
    optimizer.step()
    after = list(module.net.fusion.alphas) + [module.net.level_weights]
    assert all(not torch.equal(b, a) for b, a in zip(before, after))
    state = optimizer.state_dict()
    fresh = SloshNet(net=_net()).configure_optimizers()
    fresh.load_state_dict(state)
    assert len(fresh.architecture.state) == len(alphas) and len(fresh.weights.state) > 0


def test_official_schedule_in_optimizer_steps():
    """HMDB51 (step_iter 1500): the official rate at task i = 16 k + 15 of step k: x0.5 from task 9000."""
    module = SloshNet(net=_net())
    optimizer = module.configure_optimizers()
    schedule = SloshNetOfficialLR(optimizer, steps_iter=1500)
    assert schedule.factor(0) == 1.0
    assert schedule.factor(561) == 1.0 and schedule.factor(562) == 0.5     # tasks 8991 and 9007
    assert schedule.factor(749) == 0.5 and schedule.factor(750) == 0.1   # tasks 11999, 12015
    assert schedule.factor(842) == 0.1 and schedule.factor(843) == 0.01
    assert schedule.factor(10_000) == 0.01
    assert optimizer.param_groups[0]["lr"] == 1e-4 and optimizer.param_groups[1]["lr"] == 3e-3
    for _ in range(562):
        optimizer.step()
        schedule.step()
    assert optimizer.weights.param_groups[0]["lr"] == pytest.approx(5e-5)
    assert optimizer.architecture.param_groups[0]["lr"] == pytest.approx(1.5e-3)


@pytest.mark.parametrize("name", ["sloshnet/hmdb51_5w1s.yaml", "sloshnet/kinetics100_5w5s.yaml",
                                  "sloshnet/ucf_crime_v2_5w10s.yaml"])
def test_packaged_configs_carry_the_official_recipe(name):
    """The real-data configs resolve to the official scripts' settings (scripts/train_{hmdb,kin}-*.sh, run.py)."""
    from tests.integration.test_config_snapshot_fewshot import print_config_of

    cfg = print_config_of(["--config", name])
    model = cfg["model"]["init_args"]
    net = model["net"]["init_args"]
    assert net["backbone"] == "resnet50" and net["backbone_weights"] == "imagenet"
    assert net["head"]["cardinalities"] == [1] and net["head"]["proj_dim"] == 1152
    assert (net["motion_heads"], net["temporal_heads"], net["temporal_layers"]) == (16, 8, 1)
    assert net["prune_threshold"] == 0.01
    assert (net["long_term_attention"], net["backbone_passes"]) == ("official", "separate")
    opt = model["optimizer"]
    assert opt["class_path"] == "vadbench.models.sloshnet.SGDWithArchitectureAdam"
    assert opt["init_args"] == {"lr": 1e-4, "momentum": 0.9, "weight_decay": 3e-4, "arch_lr": 3e-3,
                                "arch_betas": [0.5, 0.999], "arch_weight_decay": 1e-3}
    sched = model["scheduler"]["init_args"]
    one_shot_hmdb = name == "sloshnet/hmdb51_5w1s.yaml"
    assert sched["steps_iter"] == (1500 if one_shot_hmdb else 1000)
    assert sched["steps"] == [0, 6, 8, 9] and sched["factors"] == [1.0, 0.5, 0.1, 0.01]
    assert sched["iterations_per_step"] == 16
    assert cfg["trainer"]["accumulate_grad_batches"] == 16
    assert cfg["data"]["init_args"]["train_query"] == (1 if one_shot_hmdb else 5)
