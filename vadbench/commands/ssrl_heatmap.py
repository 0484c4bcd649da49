"""`vadbench ssrl-heatmap --config CFG --ckpt_path CKPT [--video NAME] [--snippet T] [--frame IMG] [--out DIR]`

SSRL Fig. 6: the PSR attention of one test video's snippet for every patch scale, as `.npy` grids
(rows x cols, in [0, 1]) and one PNG panel (`<video>_t<snippet>_heatmap.png`: every scale titled with
its grid, one colour bar; drawn over `--frame` when given, else as patch grids). Default video: the
first anomalous test video; default snippet: the one with the highest anomaly score.
"""

from __future__ import annotations

import argparse

import torch


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vadbench ssrl-heatmap", description=__doc__.split("\n")[0])
    parser.add_argument("--config", action="append", required=True)
    parser.add_argument("--ckpt_path", required=True, help="trained SSRL checkpoint")
    parser.add_argument("--video", default=None, help="test video name (default: first anomalous)")
    parser.add_argument("--snippet", type=int, default=None, help="snippet index (default: highest score)")
    parser.add_argument("--frame", default=None, help="frame image to draw the heatmaps over (PNG/JPG)")
    parser.add_argument("--out", default="heatmaps")
    args, overrides = parser.parse_known_args(argv)

    from vadbench.commands.complexity import build_cli
    from vadbench.data.mil.dataset import FullVideoDataset, collate_videos
    from vadbench.models.ssrl.heatmap import psr_heatmaps, save_heatmaps
    from vadbench.models.components.weights import read_state_dict

    cli = build_cli(args.config, overrides)
    module, data = cli.model, cli.datamodule
    module.load_state_dict(read_state_dict(args.ckpt_path, trusted=True))  # the user's own checkpoint
    module.eval()
    data.setup("test")
    videos = data.splits["test"]
    names = [v.name for v in videos]
    if args.video is None:
        index = next((i for i, v in enumerate(videos) if v.label == 1), 0)
    elif args.video in names:
        index = names.index(args.video)
    else:
        raise SystemExit(f"vadbench ssrl-heatmap: video {args.video!r} is not in the test split ({len(names)} videos)")
    batch = collate_videos([FullVideoDataset(videos, None)[index]])
    with torch.no_grad():
        scores = module.snippet_scores(batch)[0]
    snippet = int(scores.argmax()) if args.snippet is None else args.snippet
    if not 0 <= snippet < scores.shape[0]:
        raise SystemExit(f"vadbench ssrl-heatmap: snippet {snippet} out of range (video has {scores.shape[0]})")
    maps = psr_heatmaps(module.model, {k: v[0] for k, v in batch.patches.items()})
    for path in save_heatmaps(maps, snippet, args.out, names[index], args.frame, score=float(scores[snippet])):
        print(f"vadbench: wrote {path}")
    print(f"{names[index]} snippet {snippet}: anomaly score {float(scores[snippet]):.3f}")
    return 0

