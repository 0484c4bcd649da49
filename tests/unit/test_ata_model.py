"""ATA's LightningModule around the golden-tested core: the training step classifies every episode video over
the training classes (global ids from `FewShotBatch.class_ids`), the official optimizer policies, the
evaluation cache, and clear errors."""

import pytest
import torch

from tests.helpers.fewshot_cache import check_cached_episodes, metrics_with_and_without_cache
from vadbench.data.episodic.batch import FewShotBatch
from vadbench.models.ata import ATA, ATAHeadConfig, ATALoss, ATAModel


def _model(cache: bool, seq_len: int = 4, num_classes: int = 3) -> ATA:
    torch.manual_seed(0)
    net = ATAModel(backbone="resnet_tiny", num_classes=num_classes, head=ATAHeadConfig(seq_len=seq_len, refine_steps=5))
    return ATA(net=net, loss=ATALoss(), cache_eval_embeddings=cache, embed_chunk=7)


def test_cached_episode_logits_equal_recomputed(tmp_path):
    check_cached_episodes(_model, tmp_path, episodes=3)


def test_trainer_test_accuracy_identical_with_and_without_cache(tmp_path):
    results = metrics_with_and_without_cache(_model, tmp_path, episodes=3)
    assert results[True]["test/accuracy"] == pytest.approx(results[False]["test/accuracy"], abs=0)


def _batch(way=2, shot=1, query=2, t=4, classes=(2, 0)):
    frames = lambda n: torch.rand(n, t, 3, 32, 32)
    return FewShotBatch(support=frames(way * shot), support_labels=torch.arange(way).repeat_interleave(shot),
                        query=frames(way * query), query_labels=torch.arange(way).repeat_interleave(query),
                        support_ids=torch.arange(way * shot), query_ids=torch.arange(way * query) + 10,
                        class_ids=torch.tensor(classes), episode_index=torch.tensor(0))


def test_training_step_uses_the_global_class_ids():
    model = _model(False)
    seen = {}

    def spy(module, args, output):
        seen["labels"], seen["shape"] = args[1].clone(), args[0].similarity.shape

    model.loss.register_forward_hook(spy)
    model.log = model.log_dict = lambda *a, **k: None
    out = model.training_step(_batch(), 0)
    assert torch.isfinite(out)
    # support (class 0 of the episode = training class 2, class 1 = training class 0), then the queries
    assert seen["labels"].tolist() == [2, 0, 2, 2, 0, 0]
    assert seen["shape"] == (6, 4, 4, 3)
    out.backward()
    assert model.net.classifier.weight.grad is not None


def test_official_parameter_groups():
    model = _model(False)
    model.optimizer = lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)
    opt = model.configure_optimizers()
    by_param = {id(p): g for g in opt.param_groups for p in g["params"]}
    w, b = model.net.classifier.weight, model.net.classifier.bias
    assert by_param[id(w)]["lr"] == pytest.approx(0.5) and by_param[id(w)]["weight_decay"] == pytest.approx(5e-4)
    assert by_param[id(b)]["lr"] == pytest.approx(1.0) and by_param[id(b)]["weight_decay"] == 0
    bn = model.net.backbone.bn1.weight
    conv = model.net.backbone.conv1.weight
    assert by_param[id(bn)]["lr"] == pytest.approx(0.1) and by_param[id(bn)]["weight_decay"] == 0
    assert by_param[id(conv)]["lr"] == pytest.approx(0.1) and by_param[id(conv)]["weight_decay"] == pytest.approx(5e-4)
    assert sum(len(g["params"]) for g in opt.param_groups) == len(list(model.parameters()))


def test_training_class_outside_the_classifier_is_a_clear_error():
    model = _model(False, num_classes=2)
    model.log = model.log_dict = lambda *a, **k: None
    with pytest.raises(ValueError, match="num_classes"):
        model.training_step(_batch(classes=(1, 5)), 0)


def test_segments_other_than_seq_len_are_refused():
    model = _model(False, seq_len=8)
    with pytest.raises(ValueError, match="seq_len"):
        model.net.classify(torch.rand(2, 4, model.net.feature_dim))


def test_test_path_runs_under_inference_mode():
    net = _model(False).net.eval()
    with torch.inference_mode():
        s, q = torch.rand(4, 4, net.feature_dim), torch.rand(3, 4, net.feature_dim)
        logits = net(s, torch.tensor([0, 1, 0, 1]), q, 2)
    assert logits.shape == (3, 2) and torch.isfinite(logits).all()
