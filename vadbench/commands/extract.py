"""`vadbench extract INPUT OUTPUT`: snippet features (and patch-cube features) from raw videos.

Writes one `<video><suffix>` `[T, crops, D]` per video (the format `MILFeatureDataModule` reads), or
with `--layout per_crop` one `<video>__<c>.npy` `[T, D]` per crop (Wu et al.'s / VadCLIP's layout),
plus `<video>_patch{rows}{cols}<suffix>` `[T, P, D]` per `--patch-grids` entry, each with a
`<file>.json` sidecar of the settings. `--backbone clip_vit_b16` writes CLIP ViT-B/16 image
embeddings (512-d, VadCLIP's feature set; weights: a local file or `openai` from the hub cache). Re-running skips finished videos. Exit status: 0 when every
video was extracted or already finished, 1 when some failed (named in the summary), 2 on bad usage.
See docs/extraction.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import torch

from vadbench.features.backbones import BACKBONES, WeightsError
from vadbench.features.outputs import ExtractionConfig
from vadbench.features.pipeline import FeatureExtractor, default_workers
from vadbench.features.transforms import NORMALISATIONS, RESIZE_FILTERS
from vadbench.features.video_io import LAYOUTS, discover_videos


def build_parser() -> argparse.ArgumentParser:
    d = ExtractionConfig()
    p = argparse.ArgumentParser(prog="vadbench extract", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="a folder of videos and/or frame folders (searched recursively), or one video file")
    p.add_argument("output", help="folder for the .npy feature files and their .json sidecars")
    p.add_argument("--layout", choices=(*LAYOUTS, "per_crop"), default="flat",
                   help="how videos are named: flat = file stem / folder name; ucsd_ped2 = "
                        "training/frames/01 -> Train001, testing/frames/01 -> Test001; per_crop = flat names, "
                        "clip features written as one <video>__<c>.npy [T, D] per crop (Wu et al.'s layout)")
    p.add_argument("--videos", nargs="+", metavar="NAME", help="only these video names")
    g = p.add_argument_group("backbone")
    g.add_argument("--backbone", choices=BACKBONES, default=d.backbone)
    g.add_argument("--weights", help="local checkpoint file (public formats, see docs/extraction.md); for "
                                     "clip_vit_b16 also `openai` (OpenAI's weights from the Hugging Face hub cache, "
                                     "filled on first use when online); without it the backbone is randomly "
                                     "initialised from --seed")
    g.add_argument("--clip-frames", choices=("center", "mean"), default=d.clip_frame_pool,
                   help="clip_vit_b16: embed each snippet's middle frame (center) or average its frames' embeddings")
    g.add_argument("--seed", type=int, default=d.seed, help="seed of the random initialisation")
    g = p.add_argument_group("snippets and frames")
    g.add_argument("--snippet-len", type=int, default=d.snippet_len, help="frames per snippet")
    g.add_argument("--stride", type=int, default=None, help="frames between snippet starts (default: --snippet-len)")
    g.add_argument("--tail", choices=("pad", "drop"), default=d.tail,
                   help="pad: T = ceil(F/stride), the last snippet repeats the last frame; drop: T = floor")
    g.add_argument("--fps", type=float, default=None, help="resample to this frame rate (default: native)")
    g.add_argument("--source-fps", type=float, default=None,
                   help="frame rate of the input (overrides the container's; needed with --fps for frame folders)")
    g.add_argument("--resize", default=d.resize, help="clip frames resized to HxW (e.g. 256x340) or short side S")
    g.add_argument("--resize-filter", choices=RESIZE_FILTERS, default=d.resize_filter)
    g.add_argument("--crop", choices=("ten", "five", "center", "full"), default=d.crop,
                   help="ten = 10-crop (community setting), five = centre + 4 corners (XD-Violence's 5 crops), "
                        "center = centre crop, full = whole resized frame")
    g.add_argument("--crop-size", type=int, default=d.crop_size)
    g.add_argument("--normalisation", choices=("auto", *NORMALISATIONS), default=d.normalisation,
                   help="auto = the backbone's own (i3d: [-1, 1]; torchvision: Kinetics mean/std)")
    g = p.add_argument_group("patch cubes (SSRL)")
    g.add_argument("--patch-grids", nargs="*", default=[], metavar="RxC",
                   help="grids of patch features, e.g. 2x3 3x5 4x7 -> _patch23/_patch35/_patch47 files")
    g.add_argument("--patch-frame-size", default=d.patch_frame_size, help="frames resized to HxW before tiling")
    g.add_argument("--no-clip", action="store_true", help="write patch features only")
    g = p.add_argument_group("output and speed")
    g.add_argument("--suffix", default=d.suffix, help="file name suffix after the video name")
    g.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:1, ...")
    g.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default=d.precision)
    g.add_argument("--batch-size", type=int, default=40, help="clips (views) per forward pass")
    g.add_argument("--workers", type=int, default=None, help=f"decode processes (default {default_workers()})")
    g.add_argument("--chunk-snippets", type=int, default=8, help="snippets a worker ships at once")
    g.add_argument("--overwrite", action="store_true", help="re-extract finished videos")
    g.add_argument("--accept-short", action="store_true",
                   help="extract videos that end before the frame count / duration their container declares "
                        "(default: such a video fails, named, and the others go on)")
    g.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cfg = ExtractionConfig(
            backbone=args.backbone, weights=args.weights, seed=args.seed, snippet_len=args.snippet_len,
            stride=args.stride, tail=args.tail, fps=args.fps, source_fps=args.source_fps, resize=args.resize,
            resize_filter=args.resize_filter, crop=args.crop, crop_size=args.crop_size,
            normalisation=args.normalisation, patch_grids=list(args.patch_grids),
            patch_frame_size=args.patch_frame_size, clip=not args.no_clip, suffix=args.suffix,
            precision=args.precision, file_layout="per_crop" if args.layout == "per_crop" else "stacked",
            clip_frame_pool=args.clip_frames)
        sources = discover_videos(args.input, "flat" if args.layout == "per_crop" else args.layout)
        if args.videos:
            wanted = set(args.videos)
            unknown = wanted - {s.name for s in sources}
            if unknown:
                raise ValueError(f"--videos names not found under {args.input}: {sorted(unknown)}")
            sources = [s for s in sources if s.name in wanted]
        extractor = FeatureExtractor(cfg, device=args.device, batch_size=args.batch_size,
                                     workers=default_workers() if args.workers is None else args.workers,
                                     chunk_snippets=args.chunk_snippets)
        extractor.accept_short = args.accept_short
    except (ValueError, FileNotFoundError, WeightsError) as err:
        print(f"vadbench extract: error: {err}", file=sys.stderr)
        return 2
    if extractor.device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        # the decode workers have the other cores; oversubscribed BLAS threads slow everything down
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - extractor.workers))
    b = extractor.backbone
    print(f"vadbench extract: {len(sources)} videos, backbone {b.name} ({b.feature_dim}-d, "
          f"{'weights ' + b.weights if b.seed is None else 'RANDOM INIT, seed %d' % b.seed}), "
          f"device {extractor.device}, outputs {['clip' if t == '' else t[1:] for t in cfg.outputs()]}")
    report = extractor.run(sources, args.output, overwrite=args.overwrite, progress=not args.no_progress)
    print("vadbench extract: " + report.summary())
    return 0 if report.ok else 1
