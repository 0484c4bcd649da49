"""OTAM beyond the golden test: the evaluation cache gives the same accuracy as recomputing, the head's
distances stay float32 under bf16 autocast, backbone_passes reaches training, and bad input is refused."""

import lightning as L
import pytest
import torch

from vadbench.data.episodic import EpisodicVideoDataModule
from vadbench.models.otam import OTAM, OTAMHeadConfig, OTAMModel

TINY = dict(layout="hmdb51", size=32, frames=12, videos_per_class=4, train_classes=3, val_classes=1, test_classes=3)


def _datamodule(tmp_path, episodes=4):
    return EpisodicVideoDataModule(dataset="synthetic", root=str(tmp_path / "synth"), way=3, shot=1, test_query=2,
                                   test_episodes=episodes, seq_len=4, frame_height=32, crop_size=28, num_workers=0,
                                   synthetic=TINY)


def _model(cache: bool, **net) -> OTAM:
    torch.manual_seed(0)
    return OTAM(net=OTAMModel(backbone="resnet_tiny", **net), cache_eval_embeddings=cache, embed_chunk=5)


def test_trainer_test_accuracy_identical_with_and_without_cache(tmp_path):
    results = {}
    for cache in (True, False):
        dm = _datamodule(tmp_path)
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False)
        trainer.test(_model(cache), datamodule=dm, verbose=False)
        assert dm.test_frames_in_batch is (not cache)  # the cached run sends video ids only
        results[cache] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert results[True]["test/num_episodes"] == 4
    assert results[True]["test/accuracy"] == pytest.approx(results[False]["test/accuracy"], abs=0)


def test_cached_logits_equal_recomputed(tmp_path):
    dm = _datamodule(tmp_path, episodes=3)
    dm.prepare_data()
    dm.setup("test")
    ds = dm.episodes("test")
    uncached, cached = _model(False).eval(), _model(True).eval()
    cached._video_source = ds
    with torch.no_grad():
        for i in range(len(ds)):
            ds.with_frames = True
            batch = ds[i]
            s0, q0 = uncached.eval_features(batch)
            ds.with_frames = False
            ids_only = ds[i]
            s1, q1 = cached.eval_features(ids_only)
            logits0 = uncached.episode_logits(s0, batch.support_labels, q0, batch.way)
            logits1 = cached.cached_episode_logits(s1, ids_only.support_labels, q1, ids_only.way)
            torch.testing.assert_close(logits1, logits0, atol=1e-5, rtol=1e-4)
            assert logits0.std() > 1e-4


def test_head_is_a_float32_island_under_bf16_autocast():
    model = OTAMModel("resnet_tiny").eval()
    support, query = torch.rand(4, 5, 16), torch.rand(3, 5, 16)
    labels = torch.tensor([1, 0, 0, 1])
    expected = model(support, labels, query, 2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = model(support.bfloat16(), labels, query.bfloat16(), 2)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, model(support.bfloat16().float(), labels, query.bfloat16().float(), 2))
    assert (got - expected).abs().max() < 0.1


def test_separate_backbone_passes_reach_training():
    calls = []
    model = OTAMModel("resnet_tiny", backbone_passes="separate")
    model.backbone.register_forward_hook(lambda *a: calls.append(1))
    module = OTAM(net=model)
    s, q = module.net.embed_episode(torch.rand(2, 3, 3, 32, 32), torch.rand(2, 3, 3, 32, 32))
    assert len(calls) == 2 and s.shape == q.shape == (2, 3, 128)


def test_bad_settings_and_inputs_are_refused():
    with pytest.raises(ValueError, match="directions"):
        OTAMHeadConfig(directions="both_ways")
    with pytest.raises(ValueError, match="vertical_moves"):
        OTAMHeadConfig(vertical_moves="all")
    with pytest.raises(ValueError, match="smoothing"):
        OTAMHeadConfig(smoothing=-0.1)
    model = OTAMModel("resnet_tiny")
    with pytest.raises(ValueError, match="same number of shots"):
        model(torch.rand(3, 4, 8), torch.tensor([0, 1, 1]), torch.rand(2, 4, 8), 2)
    with pytest.raises(ValueError, match="one label per support video"):
        model(torch.rand(3, 4, 8), torch.tensor([0, 1]), torch.rand(2, 4, 8), 2)
