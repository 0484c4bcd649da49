"""Shared checks of the few-shot test-time embedding cache (TRX, OTAM, STRM, HyRSM): a tiny generated
episodic set, per-episode cached vs recomputed logits, and `trainer.test` accuracy with and without the cache."""

from __future__ import annotations

from typing import Callable

import lightning as L
import torch

from vadbench.data.episodic import EpisodicVideoDataModule

TINY_VIDEOS = dict(layout="hmdb51", size=32, frames=12, videos_per_class=4, train_classes=3, val_classes=1,
                   test_classes=3)


def tiny_datamodule(tmp_path, episodes: int = 4) -> EpisodicVideoDataModule:
    """3-way 1-shot, 2 test queries a class, 4 frames of 28 px crops."""
    return EpisodicVideoDataModule(dataset="synthetic", root=str(tmp_path / "synth"), way=3, shot=1, test_query=2,
                                   test_episodes=episodes, seq_len=4, frame_height=32, crop_size=28, num_workers=0,
                                   synthetic=TINY_VIDEOS)


def metrics_with_and_without_cache(make_model: Callable[[bool], L.LightningModule], tmp_path,
                                        episodes: int = 4) -> dict[bool, dict[str, float]]:
    """`trainer.test` of `make_model(cache)` for cache True / False -> {cache: callback metrics}; the cached
    run must send video ids only."""
    results = {}
    for cache in (True, False):
        dm = tiny_datamodule(tmp_path, episodes=episodes)
        trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                            enable_progress_bar=False, enable_model_summary=False)
        trainer.test(make_model(cache), datamodule=dm, verbose=False)
        assert dm.test_frames_in_batch is (not cache)  # the cached run sends video ids only
        results[cache] = {k: float(v) for k, v in trainer.callback_metrics.items()}
    assert results[True]["test/num_episodes"] == episodes
    return results


def check_cached_episodes(make_model: Callable[[bool], L.LightningModule], tmp_path, episodes: int = 5,
                          check_entry: Callable | None = None, min_std: float = 1e-4):
    """For every test episode: the cached model's logits (from video ids) equal the uncached model's (from
    frames), and so does the episode accuracy. `check_entry(uncached, batch, (s0, q0), (s1, q1))` checks what
    the cache holds. Returns (uncached, cached, dataset)."""
    dm = tiny_datamodule(tmp_path, episodes=episodes)
    dm.prepare_data()
    dm.setup("test")
    ds = dm.episodes("test")
    uncached, cached = make_model(False).eval(), make_model(True).eval()
    cached._video_source = ds
    with torch.no_grad():
        for i in range(len(ds)):
            ds.with_frames = True
            batch = ds[i]
            s0, q0 = uncached.eval_features(batch)
            ds.with_frames = False
            ids_only = ds[i]
            assert ids_only.support is None
            s1, q1 = cached.eval_features(ids_only)
            if check_entry is not None:
                check_entry(uncached, batch, (s0, q0), (s1, q1))
            logits0 = uncached.episode_logits(s0, batch.support_labels, q0, batch.way)
            logits1 = cached.cached_episode_logits(s1, ids_only.support_labels, q1, ids_only.way)
            torch.testing.assert_close(logits1, logits0, atol=1e-5, rtol=1e-4)
            assert logits0.std() > min_std  # the comparison is not between constants
            assert uncached.episode_accuracy(batch) == cached.episode_accuracy(ids_only)
    return uncached, cached, ds


def check_projected_head_sorts_support(model: torch.nn.Module, support: torch.Tensor, query: torch.Tensor) -> None:
    """`model.forward_projected` on `model.project` outputs equals `model.forward` for a 3-way 2-shot support
    in shuffled order (6 videos), and a wrong label order changes the logits (STRM, BiMACL)."""
    labels = torch.tensor([2, 0, 1, 1, 0, 2])
    with torch.no_grad():
        expected = model.logits(model(support, labels, query, 3))
        got = model.logits(model.forward_projected(model.project(support), labels, model.project(query), 3))
        wrong = model.logits(model.forward_projected(model.project(support), torch.tensor([0, 0, 1, 1, 2, 2]),
                                                     model.project(query), 3))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(wrong, expected, atol=1e-3)
