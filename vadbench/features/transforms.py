"""Frame preprocessing, split between the decode workers (resize, on uint8) and the device (the rest).

Workers resize each decoded frame once per output kind (clip frames, patch frames) and ship uint8
snippets `(n, L, H, W, 3)`; on the device they become float views `(n, V, 3, L, h, w)`:

- clip views: `ten` = the 5 crops (top-left, top-right, centre, bottom-left, bottom-right) of the
  resized frame, then the same 5 positions on the horizontally flipped frame (the order of the
  community's extractor); `five` = the centre crop, then the four corners (top-left, top-right,
  bottom-left, bottom-right), no flip: Wu et al.'s XD-Violence 5 crops ("_0 is the center, _1~_4 are
  the corners"; the corners' order is not stated, this is ours); `center` = the centre crop; `full` =
  the whole resized frame.
- patch views: the frame (default 480x840) cut into a rows x cols grid of equal windows
  (2x3 -> 240x280, 3x5 -> 160x168, 4x7 -> 120x120), in row-major order.
"""

from __future__ import annotations

import re

import numpy as np
import torch

from vadbench.data.patch_grids import grid_tag, parse_grid  # noqa: F401  (re-exported: one parser)

NORMALISATIONS = {
    # name: (mean, std) applied to x in [0, 1]; "i3d" maps [0, 255] to [-1, 1] as (x * 2 / 255) - 1
    "i3d": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "kinetics": ((0.43216, 0.394666, 0.37645), (0.22803, 0.22145, 0.216989)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "clip": ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)),   # OpenAI CLIP
}
CROP_MODES = ("ten", "five", "center", "full")
CROP_VIEWS = {"ten": 10, "five": 5, "center": 1, "full": 1}   # views per snippet of each crop mode
# PIL filters (antialiased, on the RGB frame), then FFmpeg swscale ones: `sws_*` resize inside the
# YUV -> RGB conversion of the decoded frame (one pass, ~3x faster than PIL bilinear on the decode
# worker); their pixels differ from PIL's by a few levels, so they are separate settings.
RESIZE_FILTERS = ("lanczos", "bilinear", "bicubic", "area", "sws_bilinear", "sws_bicubic", "sws_area", "sws_lanczos")
SWS_INTERPOLATION = {"sws_bilinear": "BILINEAR", "sws_bicubic": "BICUBIC", "sws_area": "AREA", "sws_lanczos": "LANCZOS"}


def parse_size(text: str) -> tuple[int, int] | int:
    """`"256x340"` -> (H, W) = (256, 340); `"256"` -> 256 (the short side, aspect kept)."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX,]\s*(\d+))?\s*", str(text))
    if not m:
        raise ValueError(f"expected a size 'HxW' (e.g. 256x340) or a short side (e.g. 256), got {text!r}")
    if m.group(2) is None:
        return int(m.group(1))
    return int(m.group(1)), int(m.group(2))


def target_size(frame_hw: tuple[int, int], size: tuple[int, int] | int) -> tuple[int, int]:
    if isinstance(size, int):
        h, w = frame_hw
        scale = size / min(h, w)
        return (size, max(1, round(w * scale))) if h <= w else (max(1, round(h * scale)), size)
    return size


def resize_frame(frame: np.ndarray, size: tuple[int, int], method: str = "lanczos") -> np.ndarray:
    """Resize an RGB uint8 `(H, W, 3)` frame to `size` = (H, W) with PIL (antialiased), or with
    swscale for the `sws_*` methods (video files are resized by swscale straight from the decoded
    YUV frame instead, see `video_io.iter_frames`)."""
    if frame.shape[:2] == tuple(size):
        return frame
    if method in SWS_INTERPOLATION:
        import av

        rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        return rgb.reformat(width=size[1], height=size[0], interpolation=SWS_INTERPOLATION[method]).to_ndarray()
    from PIL import Image

    filt = {"lanczos": Image.Resampling.LANCZOS, "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC, "area": Image.Resampling.BOX}[method]
    return np.asarray(Image.fromarray(frame).resize((size[1], size[0]), filt))


def to_float_clips(snippets: torch.Tensor, normalisation: str, out: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 `(n, L, H, W, 3)` -> normalised float `(n, 3, L, H, W)`, contiguous (on snippets' device).

    One converting copy into the contiguous layout (`.float()` of the permuted tensor would keep the
    channels-last strides, and every later crop or reshape would copy again), then in place. `out`:
    a contiguous float32 tensor of that shape to write into (a reused workspace: on a CPU a fresh
    tensor of tens of MB costs more in page faults than the copy itself)."""
    mean, std = NORMALISATIONS[normalisation]
    n, length, h, w, c = snippets.shape
    x = out if out is not None else torch.empty((n, c, length, h, w), dtype=torch.float32, device=snippets.device)
    x.copy_(snippets.permute(0, 4, 1, 2, 3)).div_(255.0)
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1, 1)
    return x.sub_(m).div_(s)


def crop_positions(h: int, w: int, crop: int) -> list[tuple[int, int]]:
    """(top, left) of the 5 crops: top-left, top-right, centre, bottom-left, bottom-right."""
    if crop > h or crop > w:
        raise ValueError(f"crop size {crop} is larger than the resized frame {h}x{w}")
    return [(0, 0), (0, w - crop), ((h - crop) // 2, (w - crop) // 2), (h - crop, 0), (h - crop, w - crop)]


def clip_views(x: torch.Tensor, mode: str, crop: int, out: torch.Tensor | None = None) -> torch.Tensor:
    """`(n, 3, L, H, W)` -> `(n, V, 3, L, h, w)`, V = 10 (`ten`), 5 (`five`), 1 (`center`, `full`).

    `ten` writes each crop once into one contiguous output (reshaping it to `(n*V, ...)` for the
    backbone is then a view), `out` if given (a reused workspace of that shape); the flipped frame
    is built once, not per crop, as rows of a 2-D view (torch's flip of the last dim of a 5-D
    tensor is ~5x slower). `center` and `full` are views of `x` (no copy)."""
    if mode == "full":
        return x[:, None]
    h, w = x.shape[-2:]
    pos = crop_positions(h, w, crop)
    if mode == "center":
        t, l = pos[2]
        return x[:, None, ..., t:t + crop, l:l + crop]
    if mode == "five":   # centre first, then the corners (Wu et al.'s XD-Violence crop files _0 .. _4)
        return torch.stack([x[..., t:t + crop, l:l + crop] for t, l in [pos[2], pos[0], pos[1], pos[3], pos[4]]], dim=1)
    if mode != "ten":
        raise ValueError(f"unknown crop mode {mode!r}; expected one of {CROP_MODES}")
    if out is None:
        out = x.new_empty((x.shape[0], 2 * len(pos), *x.shape[1:-2], crop, crop))
    flipped = x.contiguous().view(-1, x.shape[-1]).flip(-1).view(x.shape)
    for j, img in enumerate((x, flipped)):
        for i, (t, l) in enumerate(pos):
            out[:, j * len(pos) + i].copy_(img[..., t:t + crop, l:l + crop])
    return out


def patch_views(x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """`(n, 3, L, H, W)` -> `(n, rows*cols, 3, L, H//rows, W//cols)`, windows in row-major order."""
    rows, cols = grid
    n, c, length, h, w = x.shape
    ph, pw = h // rows, w // cols
    x = x[..., : rows * ph, : cols * pw].reshape(n, c, length, rows, ph, cols, pw)
    return x.permute(0, 3, 5, 1, 2, 4, 6).reshape(n, rows * cols, c, length, ph, pw)
