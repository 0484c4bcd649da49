"""SKPS-Net key patches drawn on test videos (the paper's Fig. 5), one PNG strip per video.

    vadbench skps-keypatch --config configs/skps_net/ucf_crime_v2_5w5s.yaml --ckpt_path last.ckpt \\
        --out keypatches [--videos 8] [--per_class] [--data.init_args.test_root DIR ...]

The config builds the model and the datamodule (any further `--key value` goes to it, as for
`vadbench test`); the checkpoint's weights are loaded; the test clips (fixed frames, centre crop)
of the first `--videos` test videos (or one per class with `--per_class`) are run through the
model and each frame is saved with the selected key patch as a red box:
`<out>/<n>_<class>_<video>.png`. The box centres are also written to `<out>/keypatches.json`.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import torch

from vadbench.data.episodic.dataset import IMAGENET_MEAN, IMAGENET_STD


def _frames_to_uint8(clip: torch.Tensor) -> np.ndarray:
    """Normalised (T, 3, H, W) -> uint8 (T, H, W, 3)."""
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    rgb = (clip.cpu() * std + mean).clamp(0, 1) * 255
    return rgb.permute(0, 2, 3, 1).round().to(torch.uint8).numpy()


def draw_keypatches(frames: np.ndarray, centres: np.ndarray, patch: int, path: Path, gap: int = 4,
                    caption: str = "") -> Path:
    """Save frames (T, H, W, 3) side by side, each with its key patch box (centre (x, y), side `patch`),
    frame numbers above and a caption below (what the strip shows: video, class, the red box)."""
    from PIL import Image, ImageDraw

    t, h, w, _ = frames.shape
    top, bottom = 14, 30 if caption else 0
    strip_w = t * w + (t - 1) * gap
    strip = Image.new("RGB", (strip_w, h + top + bottom), (255, 255, 255))
    width = max(1, round(min(h, w) / 112))
    draw = ImageDraw.Draw(strip)
    for i in range(t):
        img = Image.fromarray(frames[i])
        x, y = float(centres[i, 0]), float(centres[i, 1])
        ImageDraw.Draw(img).rectangle([x - patch / 2, y - patch / 2, x + patch / 2 - 1, y + patch / 2 - 1],
                                      outline=(255, 0, 0), width=width)
        strip.paste(img, (i * (w + gap), top))
        draw.text((i * (w + gap) + 2, 1), f"frame {i + 1}/{t}", fill=(0, 0, 0))
    if caption:
        lines, line = [], ""
        for word in caption.split():  # wrap to the strip width (~6 px per character of the default font)
            if line and len(line) + 1 + len(word) > max(20, strip_w // 6):
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines.append(line)
        for j, text in enumerate(lines[:2]):
            draw.text((2, h + top + 3 + 13 * j), text, fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    strip.save(path)
    return path


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:80]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="vadbench skps-keypatch", description=__doc__.split("\n")[0])
    parser.add_argument("--config", action="append", required=True, help="SKPS-Net config (may repeat)")
    parser.add_argument("--ckpt_path", default=None, help="trained weights (.ckpt); omitted: the config's initial weights")
    parser.add_argument("--out", required=True, help="output folder for the PNG strips")
    parser.add_argument("--videos", type=int, default=8, help="number of test videos to draw")
    parser.add_argument("--per_class", action="store_true", help="the first video of each test class instead")
    args, rest = parser.parse_known_args(argv)

    from vadbench.cli import VadbenchCLI, _resolve_config_args
    from vadbench.models.skps_net import SKPSNet

    cli_args = []
    for c in args.config:
        cli_args += ["--config", c]
    cli = VadbenchCLI(args=_resolve_config_args(cli_args + rest), run=False)
    model, dm = cli.model, cli.datamodule
    if not isinstance(model, SKPSNet):
        raise SystemExit(f"vadbench skps_keypatch: the config builds {type(model).__name__}, not SKPSNet")
    if not model.net.use_patch:
        raise SystemExit("vadbench skps_keypatch: this model has no key-patch branch (use_patch: false)")
    if args.ckpt_path is not None:
        path = Path(args.ckpt_path)
        if not path.is_file():
            raise SystemExit(f"vadbench skps_keypatch: checkpoint {path} does not exist")
        from vadbench.models.components.weights import read_state_dict

        model.load_state_dict(read_state_dict(path, trusted=True))  # the user's own Lightning checkpoint
    model.eval()
    dm.setup("test")
    clips = dm.clips["test"]
    classes = dm.class_names["test"]
    if args.per_class:
        chosen, seen = [], set()
        for i, c in enumerate(clips):
            if c.class_index not in seen:
                seen.add(c.class_index)
                chosen.append(i)
    else:
        chosen = list(range(min(args.videos, len(clips))))
    source = dm.test_videos
    out = Path(args.out)
    boxes = {}
    patch = model.net.patch_size
    with torch.no_grad():
        for n, vid in enumerate(chosen):
            clip = source.clip(vid)
            centres = model.key_patches(clip[None].to(model.device))[0].cpu().numpy()
            record = clips[vid]
            name = f"{n:03d}_{_safe(classes[record.class_index])}_{_safe(Path(record.name).name)}.png"
            caption = (f"{Path(record.name).name} (class {classes[record.class_index]}): red box = the key patch "
                       f"SKPS-Net selected ({patch} px), per frame")
            draw_keypatches(_frames_to_uint8(clip), centres, patch, out / name, caption=caption)
            boxes[name] = {"video": record.name, "class": classes[record.class_index], "patch_size": patch,
                           "centres_xy": centres.round(2).tolist()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "keypatches.json").write_text(json.dumps(boxes, indent=1), encoding="utf-8")
    print(f"vadbench skps_keypatch: {len(boxes)} videos drawn to {out}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
