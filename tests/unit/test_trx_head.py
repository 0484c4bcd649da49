"""TRX's cross-transformer head on known inputs: tuples, shapes, permutations, a hand-checked case."""

import itertools

import pytest
import torch

from vadbench.models.components.backbones import build_resnet
from vadbench.models.components.weights import WeightsError
from vadbench.models.trx import TRX, TRXHeadConfig, TRXLoss, TRXModel, TemporalCrossTransformer, trx_loss


def test_tuples_are_registered_buffers_with_the_paper_counts():
    pairs = TemporalCrossTransformer(16, seq_len=8, cardinality=2, proj_dim=8)
    triples = TemporalCrossTransformer(16, seq_len=8, cardinality=3, proj_dim=8)
    assert pairs.num_tuples == 28 and triples.num_tuples == 56
    assert pairs.tuples.tolist() == [list(t) for t in itertools.combinations(range(8), 2)]
    assert "tuples" in dict(pairs.named_buffers()) and "tuples" not in pairs.state_dict()  # moves with .to(), not saved
    x = torch.randn(3, 8, 16)
    tf = pairs.tuple_features(x)
    assert tf.shape == (3, 28, 32)
    assert torch.equal(tf[1, 27], torch.cat([x[1, 6], x[1, 7]]))


def test_hand_checkable_case():
    """Zero keys -> uniform attention -> the prototype is the mean support tuple; identity values."""
    head = TemporalCrossTransformer(2, seq_len=2, cardinality=1, proj_dim=2, pe_scale=0.0, dropout=0.0).eval()
    with torch.no_grad():
        head.key.weight.zero_(); head.key.bias.zero_()
        head.value.weight.copy_(torch.eye(2)); head.value.bias.zero_()
    support = torch.tensor([[[0., 0.], [2., 0.]],      # class 0: frames (0,0), (2,0) -> prototype (1, 0)
                            [[0., 4.], [0., 6.]]])     # class 1: frames (0,4), (0,6) -> prototype (0, 5)
    query = torch.tensor([[[1., 1.], [1., -1.]]])
    logits = head(support, query, way=2)
    # class 0: ((0^2 + 1^2) + (0^2 + 1^2)) / 2 = 1;  class 1: ((1 + 16) + (1 + 36)) / 2 = 27
    assert torch.allclose(logits, torch.tensor([[-1.0, -27.0]]))


def _model(**kw):
    torch.manual_seed(0)
    return TRXModel(backbone="resnet18", head=TRXHeadConfig(seq_len=4, cardinalities=(2, 3), proj_dim=16), **kw).eval()


def test_logits_shapes_and_permutation_properties():
    model = _model()
    way, shot, q = 3, 2, 5
    support = torch.randn(way * shot, 4, 512)
    labels = torch.arange(way).repeat_interleave(shot)
    query = torch.randn(q, 4, 512)
    logits = model(support, labels, query, way)
    assert logits.shape == (q, way) and torch.all(logits <= 0)
    # queries are classified independently: permuting them permutes the rows
    perm = torch.randperm(q)
    assert torch.allclose(model(support, labels, query[perm], way), logits[perm], atol=1e-5)
    # shots within a class are a set: shuffling the support (with its labels) changes nothing
    sperm = torch.randperm(way * shot)
    assert torch.allclose(model(support[sperm], labels[sperm], query, way), logits, atol=1e-5)
    # relabelling the classes permutes the columns
    cls_perm = torch.tensor([2, 0, 1])
    assert torch.allclose(model(support, cls_perm[labels], query, way)[:, cls_perm], logits, atol=1e-5)
    # a query identical to a 1-shot support video is nearest to its class
    one = model(support[::2], torch.arange(way), support[::2].clone(), way)
    assert one.argmax(dim=1).tolist() == [0, 1, 2]
    # temporal order matters (positional encoding and ordered tuples): a reversed query scores differently
    assert not torch.allclose(model(support, labels, query.flip(1), way), logits)


def test_unequal_shots_are_an_error():
    model = _model()
    with pytest.raises(ValueError, match="same number of shots"):
        model(torch.randn(3, 4, 512), torch.tensor([0, 0, 1]), torch.randn(2, 4, 512), 2)


def test_loss_is_summed_cross_entropy():
    logits = torch.tensor([[0.0, 0.0], [2.0, 0.0]])
    labels = torch.tensor([0, 1])
    expected = -torch.log(torch.tensor(0.5)) - torch.log_softmax(logits[1], 0)[1]
    assert torch.allclose(trx_loss(logits, labels), expected)
    assert torch.allclose(trx_loss(logits, labels, "mean"), expected / 2)
    loss, terms = TRXLoss(reduction="mean")(logits, labels)   # the part the LightningModule receives
    assert torch.allclose(loss, expected / 2) and terms == {"loss": loss}
    with pytest.raises(ValueError, match="reduction"):
        TRXLoss(reduction="max")


def test_backbone_weights_from_a_local_file_only(tmp_path):
    net, dim, loaded = build_resnet("resnet18")
    assert dim == 512 and not loaded
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    path = tmp_path / "r18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
    _, _, loaded = build_resnet("resnet18", str(path))
    assert loaded
    with pytest.raises(WeightsError, match="none.pth.*not found|not found.*none.pth"):
        build_resnet("resnet18", str(tmp_path / "none.pth"))
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match="bad.pth"):
        build_resnet("resnet18", str(tmp_path / "bad.pth"))
    extra = {**net.state_dict(), "layer9.weight": torch.zeros(1)}     # a tensor resnet18 does not have
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(WeightsError, match="extra.pth.*1 unexpected"):
        build_resnet("resnet18", str(tmp_path / "extra.pth"))
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="text.pth is not a readable torch checkpoint"):
        build_resnet("resnet18", str(tmp_path / "text.pth"))
    head = TRXHeadConfig(seq_len=4, proj_dim=8)
    trx = TRX(net=TRXModel(backbone="resnet18", head=head))
    assert trx.result_metadata()["backbone"] == "random_init" and trx.model_id == "trx"
    loaded = TRX(net=TRXModel(backbone="resnet18", backbone_weights=str(path), head=head))
    assert loaded.result_metadata()["backbone"] == "pretrained"
    assert torch.equal(loaded.net.backbone.conv1.weight, net.conv1.weight)   # the file's numbers, not a new init


def test_tiny_resnet_backbone_and_its_feature_map_width():
    from vadbench.models.skps_net.torch_model import ResNetTrunk

    net, dim, loaded = build_resnet("resnet_tiny")
    assert (dim, loaded) == (128, False) and net(torch.randn(2, 3, 32, 32)).shape == (2, 128)
    assert sum(p.numel() for p in net.parameters()) < 0.05 * sum(p.numel() for p in build_resnet("resnet18")[0].parameters())
    for layer, width in (("layer3", 64), ("layer4", 128)):   # one block per stage: the map is the block's output
        trunk = ResNetTrunk("resnet_tiny", None, layer)
        feature_map, _ = trunk(torch.randn(1, 3, 64, 64))
        assert trunk.map_channels == feature_map.shape[1] == width
    with pytest.raises(ValueError, match="unknown backbone"):
        build_resnet("resnet_huge")


def test_checkpoints_from_before_the_net_argument_still_load():
    """State dicts saved when the core was `self.model` (keys `model.*`) load into `net`."""
    head = TRXHeadConfig(seq_len=4, proj_dim=8)
    torch.manual_seed(1)
    old = TRX(net=TRXModel(backbone="resnet18", head=head))
    checkpoint = {"state_dict": {f"model.{k[len('net.'):]}": v for k, v in old.state_dict().items()}}
    torch.manual_seed(2)
    new = TRX(net=TRXModel(backbone="resnet18", head=head))
    new.on_load_checkpoint(checkpoint)
    new.load_state_dict(checkpoint["state_dict"])
    assert all(torch.equal(v, old.state_dict()[k]) for k, v in new.state_dict().items())
    assert not torch.equal(TRX(net=TRXModel(backbone="resnet18", head=head)).net.transformers[0].key.weight,
                           new.net.transformers[0].key.weight)
