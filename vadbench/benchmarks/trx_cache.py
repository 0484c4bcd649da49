"""`vadbench bench trx-cache`: TRX test-time evaluation with the embedding cache against recomputing
every episode, measured per episode and projected to the paper's evaluation (10,000 episodes over
HMDB51's 1,292 test videos).

On a generated video set (hmdb51 layout), with the same random-init weights:
1. `trainer.test` without the cache: every episode decodes and embeds its videos and runs the head;
   `u` = median seconds per episode (time between consecutive test batches);
2. `trainer.test` with the cache (accuracy must be identical; the ids-only loader is used);
3. the cached costs separately, on the same episodes: a first pass with an empty cache (decode +
   backbone + the head's per-video key/value projections once per video, plus the attention), a
   second pass with the cache full (the attention only): `a` = seconds per cached episode, `e` =
   seconds per newly cached video.

Projection to N episodes over V videos (every video is used at N = 10,000): recomputing = N * u;
cached = V * e + N * a. Both are printed with their ratio (last line).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from vadbench.benchmarks.common import devices, median, now, table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--episodes", type=int, default=40, help="measured test episodes")
    p.add_argument("--project-episodes", type=int, default=10_000, help="episodes of the projected evaluation")
    p.add_argument("--project-videos", type=int, default=1292, help="test videos of the projected evaluation "
                   "(HMDB51's test split: 1,292)")
    p.add_argument("--backbone", default="resnet18", help="resnet50 at --crop 224 is the paper's setting")
    p.add_argument("--height", type=int, default=64, help="frame height (and synthetic frame size)")
    p.add_argument("--crop", type=int, default=56)
    p.add_argument("--way", type=int, default=5)
    p.add_argument("--shot", type=int, default=5)
    p.add_argument("--query", type=int, default=1, help="query videos per class")
    p.add_argument("--videos-per-class", type=int, default=12)
    p.add_argument("--device", default="auto", help="auto (cpu, plus cuda when available) or a comma list")


def _datamodule(args, root: Path):
    from vadbench.data.episodic import EpisodicVideoDataModule

    return EpisodicVideoDataModule(dataset="synthetic", root=str(root), way=args.way, shot=args.shot,
                                   test_query=args.query, test_episodes=args.episodes, seq_len=8,
                                   frame_height=args.height, crop_size=args.crop, num_workers=0,
                                   synthetic=dict(layout="hmdb51", size=args.height, frames=16,
                                                  videos_per_class=args.videos_per_class))


def _model(args, cache: bool):
    from vadbench.models.trx import TRX
    from vadbench.models.trx.torch_model import TRXHeadConfig, TRXModel

    torch.manual_seed(0)
    return TRX(net=TRXModel(backbone=args.backbone, head=TRXHeadConfig(seq_len=8)), cache_eval_embeddings=cache)


class _BatchTimer(L.Callback):
    def __init__(self, device):
        self.device, self.ends = device, []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        self.ends.append(now(self.device))


def _trainer_test(args, root: Path, device, cache: bool) -> tuple[list[float], dict, float]:
    dm = _datamodule(args, root)
    timer = _BatchTimer(device)
    trainer = L.Trainer(accelerator=device.type, devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    start = time.perf_counter()
    trainer.test(_model(args, cache), datamodule=dm, verbose=False)
    total = time.perf_counter() - start
    steps = [b - a for a, b in zip(timer.ends, timer.ends[1:])]
    return steps, {k: float(v) for k, v in trainer.callback_metrics.items()}, total


@torch.no_grad()
def _cached_costs(args, root: Path, device) -> tuple[float, float, int]:
    """(seconds per cached episode, seconds per newly cached video, videos cached)."""
    dm = _datamodule(args, root)
    dm.prepare_data()
    dm.setup("test")
    dm.test_frames_in_batch = False
    ds = dm.episodes("test")
    model = _model(args, True).to(device).eval()
    model._video_source = ds
    batches = [model.transfer_batch_to_device(ds[i], device, 0) for i in range(len(ds))]

    def one_pass() -> float:
        start = now(device)
        for b in batches:
            model.episode_accuracy(b)
        return now(device) - start

    model._cache.reset()
    first = one_pass()
    videos = int(model._cache.filled.sum())
    second = one_pass()
    per_episode = second / len(batches)
    return per_episode, max(0.0, first - second) / max(1, videos), videos


def _fmt_time(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else (f"{s / 60:.1f} min" if s < 7200 else f"{s / 3600:.2f} h")


def main(args) -> int:
    devs = devices(args.device)
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        for device in devs:
            plain_steps, m_plain, t_plain = _trainer_test(args, root, device, cache=False)
            cache_steps, m_cache, t_cache = _trainer_test(args, root, device, cache=True)
            a, e, videos = _cached_costs(args, root, device)
            u = median(plain_steps)
            n, v = args.project_episodes, args.project_videos
            res[device.type] = dict(u=u, a=a, e=e, videos=videos, t_plain=t_plain, t_cache=t_cache,
                                    same=m_plain["test/accuracy"] == m_cache["test/accuracy"],
                                    acc=m_cache["test/accuracy"], plain_total=n * u, cache_total=v * e + n * a)
    cols = [d.type for d in devs]
    r = [res[c] for c in cols]
    rows = [
        (f"measured: {args.episodes} episodes, recompute", [_fmt_time(x["t_plain"]) for x in r]),
        (f"measured: {args.episodes} episodes, cached", [_fmt_time(x["t_cache"]) for x in r]),
        ("measured speed-up", [f"{x['t_plain'] / x['t_cache']:.2f}x" for x in r]),
        ("accuracy identical", [f"{x['same']} ({x['acc']:.4f})" for x in r]),
        ("u: s/episode, recompute", [f"{x['u'] * 1000:.1f} ms" for x in r]),
        ("a: s/episode, cache full", [f"{x['a'] * 1000:.2f} ms" for x in r]),
        ("e: s/video, first embedding", [f"{x['e'] * 1000:.1f} ms" for x in r]),
        (f"projected {args.project_episodes} ep, recompute", [_fmt_time(x["plain_total"]) for x in r]),
        (f"projected {args.project_episodes} ep, cached", [_fmt_time(x["cache_total"]) for x in r]),
    ]
    print(f"TRX test, {args.way}-way {args.shot}-shot, {args.query} query/class, {args.backbone} at {args.crop} px, "
          f"8 frames, {torch.get_num_threads()} CPU threads; {res[cols[0]]['videos']} test videos")
    print(table(rows, cols, first=38))
    print(f"projection: recompute = N*u, cached = V*e + N*a with N = {args.project_episodes} episodes, "
          f"V = {args.project_videos} videos")
    heads = ", ".join(f"{res[c]['plain_total'] / res[c]['cache_total']:.1f}x ({c}: "
                      f"{_fmt_time(res[c]['plain_total'])} -> {_fmt_time(res[c]['cache_total'])})" for c in cols)
    print(f"embedding cache speed-up of a {args.project_episodes}-episode evaluation: {heads}")
    return 0
