"""STA-MIL model: crop handling, bd-RNN / FC scorers, masking, test-time segmentation, score gap."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.mil_modules import from_config
from vadbench.data.mil.batch import MILBatch
from vadbench.data.mil.features import reduce_to_segments
from vadbench.models.sta_mil import (STAMIL, BidirectionalRNNScorer, STAMILModel, pool_segments, segment_membership,
                                     spread_segment_scores)
from vadbench.models.sta_mil.metrics import FrameMetricsWithScoreGap, score_gap


@pytest.mark.parametrize("crop_mode,views", [("channels", 3), ("mean", 1), ("independent", 3)])
@pytest.mark.parametrize("scorer", ["bd_rnn", "fc"])
def test_shapes_and_score_range(crop_mode, views, scorer):
    torch.manual_seed(0)
    model = STAMILModel(feature_dim=16, num_crops=3, crop_mode=crop_mode, scorer=scorer).eval()
    out = model(torch.randn(4, 9, 3, 16))
    assert out.boosted.shape == (4, views, 9, 16)
    assert out.scores.shape == (4, 9)
    assert ((out.scores > 0) & (out.scores < 1)).all()


def test_bd_rnn_is_the_papers_network():
    scorer = BidirectionalRNNScorer(32)
    rnn = scorer.rnn
    assert isinstance(rnn, torch.nn.RNN) and rnn.nonlinearity == "relu"
    assert (rnn.hidden_size, rnn.num_layers, rnn.bidirectional) == (64, 2, True)
    assert scorer.head.in_features == 128 and scorer.head.out_features == 1
    for cell, cls in (("gru", torch.nn.GRU), ("lstm", torch.nn.LSTM)):
        assert isinstance(BidirectionalRNNScorer(32, cell=cell).rnn, cls)
    with pytest.raises(ValueError, match="cell"):
        BidirectionalRNNScorer(32, cell="transformer")


@pytest.mark.parametrize("scorer", ["bd_rnn", "fc"])
def test_padding_does_not_change_a_videos_scores(scorer):
    torch.manual_seed(1)
    model = STAMILModel(feature_dim=8, num_crops=2, scorer=scorer).eval()
    short, other = torch.randn(1, 5, 2, 8), torch.randn(1, 9, 2, 8)
    batch = torch.cat([torch.cat([short, torch.zeros(1, 4, 2, 8)], 1), other])
    mask = torch.tensor([[True] * 5 + [False] * 4, [True] * 9])
    with torch.no_grad():
        alone = model(short).scores
        batched = model(batch, mask).scores
    torch.testing.assert_close(batched[0, :5], alone[0], rtol=1e-5, atol=1e-6)


def test_wrong_crops_or_dim_are_clear_errors():
    model = STAMILModel(feature_dim=8, num_crops=10)
    with pytest.raises(ValueError, match="1 crops.*num_crops=10"):
        model(torch.randn(1, 4, 1, 8))
    with pytest.raises(ValueError, match="dim 6.*feature_dim=8"):
        model(torch.randn(1, 4, 10, 6))
    with pytest.raises(ValueError, match="crop_mode"):
        STAMILModel(crop_mode="max")
    with pytest.raises(ValueError, match="scorer"):
        STAMILModel(scorer="svm")


@pytest.mark.parametrize("length", [1, 7, 31, 32, 33, 100, 250])
def test_test_time_segments_match_the_training_reduction(length):
    rng = np.random.default_rng(length)
    feat = rng.standard_normal((length, 2, 3)).astype(np.float32)
    padded = torch.zeros(1, 260, 2, 3)
    padded[0, :length] = torch.from_numpy(feat)
    membership = segment_membership(torch.tensor([length]), 32, 260)
    pooled = pool_segments(padded, membership)[0].numpy()
    np.testing.assert_allclose(pooled, reduce_to_segments(feat, 32), rtol=1e-5, atol=1e-6)
    covered = membership[0].sum(0)
    assert (covered[:length] >= 1).all() and (covered[length:] == 0).all()
    if length >= 32:
        assert (covered[:length] == 1).all()  # a partition: each snippet gets its own segment's score


def test_spread_segment_scores():
    membership = segment_membership(torch.tensor([64, 2]), 32, 64)
    seg = torch.arange(32, dtype=torch.float32)[None].repeat(2, 1)
    out = spread_segment_scores(seg, membership)
    torch.testing.assert_close(out[0], torch.arange(64).div(2, rounding_mode="floor").float())
    # L = 2 < 32: snippet 0 is segments 0..15, snippet 1 is segments 16..31
    torch.testing.assert_close(out[1, :2], torch.tensor([7.5, 23.5]))
    assert (out[1, 2:] == 0).all()


def test_score_gap_values():
    scores = torch.tensor([0.1, 0.3, 0.8, 1.0])
    labels = torch.tensor([0, 0, 1, 1])
    gap = score_gap(scores, labels)
    assert gap["score_mean_negative"] == pytest.approx(0.2)
    assert gap["score_mean_positive"] == pytest.approx(0.9)
    assert gap["score_gap"] == pytest.approx(0.7)
    with pytest.raises(ValueError, match="normal and anomalous"):
        score_gap(scores, torch.zeros(4, dtype=torch.long))


def test_metric_deduplicates_repeated_videos():
    metric = FrameMetricsWithScoreGap(frames_per_snippet=2)
    scores = torch.tensor([[0.2, 0.9], [0.1, 0.3]])
    labels = torch.tensor([[0, 0, 1, 1], [0, 0, 0, 0]])
    mask = torch.ones(2, 2, dtype=torch.bool)
    metric.update(scores, labels, mask, torch.tensor([0, 1]))
    metric.update(scores[:1], labels[:1], mask[:1], torch.tensor([0]))  # a padded sampler repeats video 0
    out = metric.compute()
    assert out["score_mean_negative"] == pytest.approx((0.2 * 2 + 0.1 * 2 + 0.3 * 2) / 6)
    assert out["score_mean_positive"] == pytest.approx(0.9)
    assert out["frame_auc_micro"] == pytest.approx(1.0)


def _batch(t: int, features: torch.Tensor, labels) -> MILBatch:
    b = features.shape[0]
    return MILBatch(features=features, labels=torch.tensor(labels, dtype=torch.float32),
                    mask=torch.ones(b, t, dtype=torch.bool), video_index=torch.arange(b))


def test_lightning_module_defaults_train_step_and_snippet_scores():
    torch.manual_seed(2)
    module = from_config("sta_mil/synthetic.yaml", "--data.init_args.feature_dim=16",
                         "--model.init_args.net.init_args.num_crops=2")
    assert isinstance(module, STAMIL) and module.model_id == "sta_mil"
    opt = module.configure_optimizers()
    assert isinstance(opt, torch.optim.Adam) and opt.defaults["lr"] == 1e-4
    net, loss = module.model, module.loss
    assert (net.sta.cca.query.out_channels, net.sta.recurrence, net.scorer.rnn.hidden_size, net.scorer.rnn.num_layers,
            loss.lambda_mce, loss.mce_margin, loss.mil.lambda_smooth, loss.mil.lambda_sparsity) == (10, 2, 64, 2, 2e-2, 0.4,
                                                                                           2e-4, 4e-5)
    assert module.hparams.net["init_args"]["qk_channels"] == 10 and module.test_segments == 32
    train = _batch(32, torch.randn(4, 32, 2, 16), [0, 0, 1, 1])
    loss = module.training_step(train, 0)
    assert torch.isfinite(loss) and loss.requires_grad
    loss.backward()
    assert module.model.sta.cca.query.weight.grad.abs().sum() > 0
    module.eval()
    test = _batch(50, torch.randn(2, 50, 2, 16), [0, 1])
    test.mask[1, 20:] = False
    with torch.no_grad():
        scores = module.snippet_scores(test)
    assert scores.shape == (2, 50) and (scores[1, 20:] == 0).all()
    module.test_segments = None
    with torch.no_grad():
        assert module.snippet_scores(test).shape == (2, 50)
    meta = module.result_metadata()
    assert meta["scorer"] == "bd_rnn" and meta["use_mce"] is True
