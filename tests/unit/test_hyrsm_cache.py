"""HyRSM's evaluation with the test-time cache (intra-related frames per video) equals evaluation that
recomputes every episode; the inter-relation is never cached (it mixes the videos of an episode)."""

import lightning as L
import pytest
import torch

from vadbench.data.episodic import EpisodicVideoDataModule
from vadbench.models.hyrsm import HyRSM, HyRSMLoss, HyRSMModel

TINY = dict(layout="hmdb51", size=32, frames=12, videos_per_class=4, train_classes=3, val_classes=1, test_classes=3)


def _datamodule(tmp_path, episodes=5):
    return EpisodicVideoDataModule(dataset="synthetic", root=str(tmp_path / "synth"), way=3, shot=1, test_query=2,
                                   test_episodes=episodes, seq_len=4, frame_height=32, crop_size=28, num_workers=0,
                                   synthetic=TINY)


def _model(cache: bool) -> HyRSM:
    torch.manual_seed(0)
    return HyRSM(net=HyRSMModel(backbone="resnet_tiny", num_classes=3), loss=HyRSMLoss(),
                 cache_eval_embeddings=cache, embed_chunk=7)


def test_cached_episode_logits_equal_recomputed(tmp_path):
    dm = _datamodule(tmp_path)
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
            torch.testing.assert_close(s1, uncached.net.relate(s0), atol=1e-5, rtol=1e-4)   # intra-related frames
            logits0 = uncached.episode_logits(s0, batch.support_labels, q0, batch.way)
            logits1 = cached.cached_episode_logits(s1, ids_only.support_labels, q1, ids_only.way)
            torch.testing.assert_close(logits1, logits0, atol=1e-5, rtol=1e-4)
            # the eval path equals the training forward's logits
            torch.testing.assert_close(uncached.net(s0, batch.support_labels, q0, batch.way).logits, logits0)
            assert logits0.std() > 1e-4
            assert uncached.episode_accuracy(batch) == cached.episode_accuracy(ids_only)


def test_trainer_test_accuracy_identical_with_and_without_cache(tmp_path):
    results = {}
    for cache in (True, False):
        dm = _datamodule(tmp_path, episodes=4)
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False)
        trainer.test(_model(cache), datamodule=dm, verbose=False)
        assert dm.test_frames_in_batch is (not cache)
        results[cache] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert results[True]["test/num_episodes"] == 4
    assert results[True]["test/accuracy"] == pytest.approx(results[False]["test/accuracy"], abs=0)
    assert results[True]["test/accuracy_ci95"] == pytest.approx(results[False]["test/accuracy_ci95"], abs=1e-12)


def test_class_id_outside_the_classifier_is_a_clear_error():
    model = HyRSMModel(backbone="resnet_tiny", num_classes=3)
    out = model(torch.rand(2, 4, model.feature_dim), torch.tensor([0, 1]), torch.rand(2, 4, model.feature_dim), 2)
    with pytest.raises(ValueError, match="num_classes"):
        HyRSMLoss()(out, torch.tensor([0, 1]), torch.tensor([0, 1, 5, 1]))
