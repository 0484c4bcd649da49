"""Speed-up of TRX's test-time embedding cache over recomputing every episode's features.

    python benchmarks/bench_trx_cache.py [--episodes 40] [--backbone resnet18] [--crop 56] [--shot 1]

Generates a small synthetic video set (hmdb51 layout) in a temp folder, then runs `trainer.test`
over the same test episodes twice with the same random-init weights: with the cache (each test
video decoded and embedded once; the loader sends video ids) and without (every episode decodes
and embeds its videos). Prints both times, the speed-up, and both accuracies, which must be equal.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import lightning as L
import torch

from vadbench.data.episodic import EpisodicVideoDataModule
from vadbench.models.trx import TRX, TRXModel


def run(args: argparse.Namespace, root: Path, cache: bool) -> tuple[float, dict]:
    dm = EpisodicVideoDataModule(dataset="synthetic", root=str(root), way=5, shot=args.shot, test_query=args.query,
                                 test_episodes=args.episodes, seq_len=8, frame_height=args.height,
                                 crop_size=args.crop, num_workers=0,
                                 synthetic=dict(layout="hmdb51", size=args.height, frames=16, videos_per_class=12))
    dm.prepare_data()
    torch.manual_seed(0)
    model = TRX(net=TRXModel(backbone=args.backbone), cache_eval_embeddings=cache)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    start = time.perf_counter()
    trainer.test(model, datamodule=dm, verbose=False)
    return time.perf_counter() - start, {k: float(v) for k, v in trainer.callback_metrics.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--backbone", default="resnet18")
    parser.add_argument("--height", type=int, default=64, help="frame height (and synthetic frame size)")
    parser.add_argument("--crop", type=int, default=56)
    parser.add_argument("--shot", type=int, default=1)
    parser.add_argument("--query", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        t_cache, m_cache = run(args, root, cache=True)
        t_plain, m_plain = run(args, root, cache=False)
    print(f"TRX test, 5-way {args.shot}-shot, {args.query} query/class, {args.episodes} episodes, {args.backbone} at "
          f"{args.crop}px, {torch.get_num_threads()} threads")
    print(f"  recompute per episode: {t_plain:8.2f} s  ({t_plain / args.episodes:.3f} s/episode)  "
          f"accuracy {m_plain['test/accuracy']:.4f} +- {m_plain['test/accuracy_ci95']:.4f}")
    print(f"  embedding cache:       {t_cache:8.2f} s  ({t_cache / args.episodes:.3f} s/episode)  "
          f"accuracy {m_cache['test/accuracy']:.4f} +- {m_cache['test/accuracy_ci95']:.4f}")
    same = m_cache["test/accuracy"] == m_plain["test/accuracy"]
    print(f"  speed-up: {t_plain / t_cache:.2f}x; accuracy identical: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
