"""Evaluation with the test-time embedding cache equals evaluation that recomputes every episode."""

import lightning as L
import pytest
import torch

from vadbench.data.episodic import EpisodicVideoDataModule
from vadbench.models.trx import TRX, EmbeddingCache, TRXHeadConfig, TRXModel

TINY = dict(layout="hmdb51", size=32, frames=12, videos_per_class=4, train_classes=3, val_classes=1, test_classes=3)


def _datamodule(tmp_path, episodes=5):
    return EpisodicVideoDataModule(dataset="synthetic", root=str(tmp_path / "synth"), way=3, shot=1, test_query=2,
                                   test_episodes=episodes, seq_len=4, frame_height=32, crop_size=28, num_workers=0,
                                   synthetic=TINY)


def _model(cache: bool) -> TRX:
    torch.manual_seed(0)
    return TRX(net=TRXModel(backbone="resnet18", head=TRXHeadConfig(seq_len=4, proj_dim=16)),
               cache_eval_embeddings=cache, embed_chunk=7)


def test_embedding_cache_gathers_and_grows():
    cache = EmbeddingCache()
    assert cache.missing(torch.tensor([3, 1, 3])).tolist() == [1, 3]
    cache.add(torch.tensor([1, 3]), torch.tensor([[1.0], [3.0]]))
    assert cache.missing(torch.tensor([3, 9, 1, 0])).tolist() == [0, 9]
    cache.add(torch.tensor([9]), torch.tensor([[9.0]]))
    assert cache.get(torch.tensor([9, 1, 3, 9])).flatten().tolist() == [9.0, 1.0, 3.0, 9.0]


def test_cached_episode_features_equal_recomputed(tmp_path):
    """The cache holds the head's per-video key/value projections; logits equal the recomputed ones."""
    dm = _datamodule(tmp_path)
    dm.prepare_data()
    dm.setup("test")
    ds = dm.episodes("test")
    uncached, cached = _model(False).eval(), _model(True).eval()
    cached._video_source = ds
    n_tuples = 6 + 4  # pairs and triples of 4 frames
    with torch.no_grad():
        for i in range(len(ds)):
            ds.with_frames = True
            batch = ds[i]
            s0, q0 = uncached.eval_features(batch)
            ds.with_frames = False
            ids_only = ds[i]
            assert ids_only.support is None
            s1, q1 = cached.eval_features(ids_only)
            assert s1.shape == (s0.shape[0], n_tuples, 2, 16)  # keys and values, not frame features
            torch.testing.assert_close(s1, uncached.net.project(s0), atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(q1, uncached.net.project(q0), atol=1e-5, rtol=1e-4)
            logits0 = uncached.episode_logits(s0, batch.support_labels, q0, batch.way)
            logits1 = cached.cached_episode_logits(s1, ids_only.support_labels, q1, ids_only.way)
            torch.testing.assert_close(logits1, logits0, atol=1e-5, rtol=1e-4)
            assert logits0.std() > 1e-3  # the comparison is not between constants
            assert uncached.episode_accuracy(batch) == cached.episode_accuracy(ids_only)
    # every test video embedded once, however many episodes used it
    assert int(cached._cache.filled.sum()) == len(torch.unique(torch.cat(
        [torch.cat([ds[i].support_ids, ds[i].query_ids]) for i in range(len(ds))])))


def test_projected_head_equals_head_with_shuffled_support():
    """`forward_projected` sorts the support class-major like `forward` (a mix-up changes the logits)."""
    torch.manual_seed(0)
    model = _model(True).net.eval()
    support, query = torch.randn(6, 4, 512), torch.randn(5, 4, 512)
    labels = torch.tensor([2, 0, 1, 1, 0, 2])
    with torch.no_grad():
        expected = model(support, labels, query, 3)
        got = model.forward_projected(model.project(support), labels, model.project(query), 3)
        wrong = model.forward_projected(model.project(support), torch.tensor([0, 0, 1, 1, 2, 2]), model.project(query), 3)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(wrong, expected, atol=1e-3)


def test_trainer_test_accuracy_identical_with_and_without_cache(tmp_path):
    results = {}
    for cache in (True, False):
        dm = _datamodule(tmp_path, episodes=4)
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False)
        trainer.test(_model(cache), datamodule=dm, verbose=False)
        assert dm.test_frames_in_batch is (not cache)  # the cached run sends video ids only
        results[cache] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert results[True]["test/num_episodes"] == 4
    assert results[True]["test/accuracy"] == pytest.approx(results[False]["test/accuracy"], abs=0)
    assert results[True]["test/accuracy_ci95"] == pytest.approx(results[False]["test/accuracy_ci95"], abs=1e-12)
