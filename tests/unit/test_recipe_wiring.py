"""Issue #12 wiring: the official-code switches take effect where they are used (few-shot training,
Sultani's test step, validation logging) and the papers' ImageNet backbones load without a download
in tests (cache / local file; offline without either: a clear error)."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torchvision

from vadbench.data.episodic.batch import FewShotBatch
from vadbench.data.mil.batch import MILBatch
from vadbench.models.components import backbones
from vadbench.models.components.backbones import build_resnet
from vadbench.models.components.weights import WeightsError
from vadbench.models.sultani import MILRankingLoss, SultaniMIL, SultaniMILModel
from vadbench.models.sultani.torch_model import official_frame_scores, official_segment_features
from vadbench.models.trx import TRX, TRXModel
from vadbench.models.trx.torch_model import TRXHeadConfig


# ---------------------------------------------------------------- TRX backbone passes in training
def _episode(way=2, shots=2, queries=1, t=3, size=32) -> FewShotBatch:
    g = torch.Generator().manual_seed(0)
    return FewShotBatch(
        support=torch.randn(way * shots, t, 3, size, size, generator=g),
        support_labels=torch.arange(way).repeat_interleave(shots),
        query=torch.randn(way * queries, t, 3, size, size, generator=g) * 2 + 1,
        query_labels=torch.arange(way).repeat_interleave(queries),
        support_ids=torch.arange(way * shots), query_ids=torch.arange(way * queries) + 100,
        class_ids=torch.arange(way), episode_index=torch.tensor(0))


@pytest.mark.parametrize("passes, calls", [("separate", [4, 2]), ("joint", [6])])
def test_training_step_embeds_through_the_cores_backbone_passes(passes, calls):
    torch.manual_seed(0)
    net = TRXModel("resnet_tiny", head=TRXHeadConfig(seq_len=3, proj_dim=8, dropout=0.0), backbone_passes=passes)
    module = TRX(net=net, optimizer=partial(torch.optim.SGD, lr=0.1))
    seen = []
    net.backbone.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0] // 3))  # videos per call
    module.train()
    batch = _episode()
    loss = module.training_step(batch, 0)
    assert seen == calls     # separate: support (4 videos), then queries (2); joint: one call of 6
    # and the loss is the one of the core's own embedding (BatchNorm batch statistics per pass)
    torch.manual_seed(0)
    support, query = net.embed_episode(batch.support, batch.query)
    expected, _ = module.loss(net(support, batch.support_labels, query, batch.way), batch.query_labels)
    assert torch.allclose(loss, expected, atol=1e-5)


# ---------------------------------------------------------------- Sultani official test scoring
def test_official_segment_features_are_the_means_over_the_official_bounds():
    x = torch.arange(40, dtype=torch.float64)[:, None] ** 1.5          # T = 40 clips, not evenly divisible
    seg = official_segment_features(x)
    bounds = [int(torch.floor(torch.tensor(1 + i * 39 / 32, dtype=torch.float64) + 0.5)) for i in range(33)]
    for i in (0, 5, 31):
        first, last = bounds[i], max(bounds[i + 1] - 1, bounds[i])     # 1-based, inclusive
        assert seg[i, 0].item() == pytest.approx(x[first - 1:last, 0].mean().item())
    short = official_segment_features(torch.arange(10, dtype=torch.float64)[:, None])   # T < 32: single clips
    assert short.shape == (32, 1) and short[-1, 0].item() == 9.0 and short[0, 0].item() == 0.0


def test_sultani_test_scoring_official_segments_goes_through_the_official_expansion():
    torch.manual_seed(0)
    net = SultaniMILModel(feature_dim=6).eval()
    module = SultaniMIL(net=net, loss=MILRankingLoss(), optimizer=partial(torch.optim.Adagrad, lr=0.01),
                        test_scoring="official_segments").eval()
    lengths = (40, 25)
    features = torch.randn(2, 40, 1, 6)
    mask = torch.arange(40)[None, :] < torch.tensor(lengths)[:, None]
    batch = MILBatch(features=features, labels=torch.tensor([0, 1]), mask=mask, video_index=torch.arange(2),
                     frame_labels=torch.zeros(2, 40 * 16, dtype=torch.long))
    scores = module.official_test_scores(batch)
    for b, n in enumerate(lengths):
        segment_scores = net(official_segment_features(features[b, :n])[None])[0]
        expected = official_frame_scores(segment_scores, n, frames_per_clip=16).view(n, 16)[:, 0]
        torch.testing.assert_close(scores[b, :n], expected)
        assert scores[b, n - 1].item() == 0.0                            # the script leaves the last clip at 0
    # 40 clips: some segments average two clips, so the scores are not the per-snippet ones (25 < 33
    # clips: every segment is one clip, and only the last clip differs)
    assert not torch.allclose(scores[0, :39], net(features[:1, :40])[0, :39])
    torch.testing.assert_close(scores[1, :24], net(features[1:2, :25])[0, :24])
    assert (scores[1, 25:] == 0).all()
    per_snippet = SultaniMIL(net=net, loss=MILRankingLoss(), optimizer=partial(torch.optim.Adagrad, lr=0.01))
    assert per_snippet.test_scoring == "per_snippet"
    with pytest.raises(ValueError, match="test_scoring"):
        SultaniMIL(net=net, loss=MILRankingLoss(), optimizer=partial(torch.optim.Adagrad, lr=0.01), test_scoring="x")


# ---------------------------------------------------------------- ImageNet backbones, no download
def _fake_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def test_imagenet_weights_offline_without_a_file_is_a_clear_error(monkeypatch, tmp_path):
    _fake_cache(monkeypatch, tmp_path)

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(WeightsError, match=r"backbone_weights=/path/to/resnet18-f37072fd\.pth") as err:
        build_resnet("resnet18", "imagenet")
    assert "--model.init_args.net.init_args.backbone_weights" in str(err.value)
    assert str(tmp_path / "hub" / "checkpoints") in str(err.value)
    with pytest.raises(WeightsError, match="resnet_tiny"):
        build_resnet("resnet_tiny", "imagenet")


def test_imagenet_weights_come_from_the_torch_cache_and_local_files_load(monkeypatch, tmp_path):
    _fake_cache(monkeypatch, tmp_path)
    monkeypatch.setattr(torch.hub, "download_url_to_file",
                        lambda *a, **k: pytest.fail("the cached file must be used, nothing downloaded"))
    torch.manual_seed(3)
    reference = torchvision.models.resnet18(weights=None)
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    cached = tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    cached.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), cached)
    assert backbones.imagenet_weights_file("resnet18") == cached
    net, dim, loaded = build_resnet("resnet18", "imagenet")
    assert loaded and dim == 512
    torch.testing.assert_close(net.conv1.weight, reference.conv1.weight)
    local = tmp_path / "mine.pth"                                     # the local file the user names
    torch.save({"state_dict": {"module." + k: v for k, v in reference.state_dict().items()}}, local)
    net2, _, loaded2 = build_resnet("resnet18", str(local))
    assert loaded2
    torch.testing.assert_close(net2.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)
    _, _, random_init = build_resnet("resnet18", None)
    assert not random_init


# ---------------------------------------------------------------- typed arguments, validation log
def test_the_cli_admits_the_new_switch_values():
    """The LightningModules' nested parts accept every switch value (not only the paper's)."""
    import contextlib
    import io

    import yaml

    from vadbench.trainer_cli import run_cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        run_cli(["fit", "--config", "rtfm/synthetic.yaml", "--model.init_args.loss.init_args.sparsity=l2_per_video",
                 "--model.init_args.net.init_args.relation_bias=true", "--print_config"])
    cfg = yaml.safe_load(out.getvalue())["model"]["init_args"]
    assert cfg["loss"]["init_args"]["sparsity"] == "l2_per_video" and cfg["net"]["init_args"]["relation_bias"] is True
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        run_cli(["fit", "--config", "sultani/synthetic.yaml", "--model.init_args.test_scoring=per_snippet",
                 "--model.init_args.loss.init_args.reduction=mean", "--print_config"])
    cfg = yaml.safe_load(out.getvalue())["model"]["init_args"]
    assert cfg["test_scoring"] == "per_snippet" and cfg["loss"]["init_args"]["reduction"] == "mean"


def test_validation_logs_the_official_pr_auc(monkeypatch):
    from vadbench.models.rtfm import RTFM, RTFMLoss, RTFMModel

    module = RTFM(net=RTFMModel(feature_dim=4), loss=RTFMLoss(), optimizer=partial(torch.optim.Adam, lr=1e-3),
                  frames_per_snippet=1)
    logged = {}
    monkeypatch.setattr(module, "log_dict", lambda d, **k: logged.update(d))
    scores = torch.tensor([[0.9, 0.2, 0.8, 0.1]])
    labels = torch.tensor([[1, 0, 0, 1]])
    module.val_frame_metrics.update(scores, labels, torch.ones(1, 4, dtype=torch.bool), torch.zeros(1, dtype=torch.long))
    from vadbench.metrics.frame_level import official_pr_auc
    module.on_validation_epoch_end()
    assert logged["val/frame_pr_auc_micro"] == pytest.approx(official_pr_auc(labels[0].numpy(), scores[0].numpy()))
    assert "val/frame_ap_micro" in logged


def test_sultani_evaluation_scores_are_the_official_ones_for_test_and_predict():
    torch.manual_seed(1)
    net = SultaniMILModel(feature_dim=6).eval()
    module = SultaniMIL(net=net, loss=MILRankingLoss(), optimizer=partial(torch.optim.Adagrad, lr=0.01),
                        test_scoring="official_segments").eval()
    batch = MILBatch(features=torch.randn(1, 40, 1, 6), labels=torch.tensor([1]),
                     mask=torch.ones(1, 40, dtype=torch.bool), video_index=torch.arange(1))
    torch.testing.assert_close(module.snippet_scores(batch), module.official_test_scores(batch))
    torch.testing.assert_close(module.predict_step(batch, 0)["scores"][0], module.official_test_scores(batch)[0])
    module.test_scoring = "per_snippet"
    torch.testing.assert_close(module.snippet_scores(batch), net(batch.features))
