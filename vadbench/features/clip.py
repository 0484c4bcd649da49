"""CLIP ViT-B/16 image embeddings of video snippets (VadCLIP's feature set), with open_clip.

`CLIPImageEncoder` wraps the image tower of open_clip's `ViT-B-16` (open-clip-torch, the maintained
reimplementation of OpenAI's CLIP; 512-d projected embeddings, `encode_image`, not L2-normalised) so it
maps snippet clips `(N, 3, L, 224, 224)` to `(N, 512)` like the video backbones:

- `frame_pool="center"` (default): the embedding of the snippet's middle frame (frame L // 2), one
  image per 16-frame snippet, the T of VadCLIP's files (their gt has 16 frames per feature);
- `frame_pool="mean"`: the mean of the L frames' embeddings (L times the compute).
VadCLIP's extraction script is not published, so which of the two it used is not known; the choice
is recorded in every sidecar (`settings.clip`).

Weights (`resolve_clip_weights`): a local file the user names (open_clip's `open_clip_pytorch_model.bin`
/ `.safetensors`, or OpenAI's `ViT-B-16.pt` archive), or the tag `openai`: OpenAI's weights from the
Hugging Face hub cache (`timm/vit_base_patch16_clip_224.openai`), downloaded there on first use when
the machine is online; offline without the cached file it is an error naming the cache and the
option. Without weights the tower is randomly initialised from the seed (tests, smoke runs).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from vadbench.models.components.weights import WeightsError

CLIP_MODEL = "ViT-B-16"
OPENAI_HUB_REPO = "timm/vit_base_patch16_clip_224.openai"
HUB_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
FRAME_POOLS = ("center", "mean")
IMAGE_SIZE = 224


def _open_clip():
    try:
        import open_clip
    except ImportError as err:  # a dependency of vadbench; only a broken install gets here
        raise WeightsError("the clip_vit_b16 backbone needs open-clip-torch: pip install 'vadbench[clip]' "
                           "(or pip install open-clip-torch)") from err
    return open_clip


def _offline() -> bool:
    return any(os.environ.get(k, "").lower() in ("1", "true", "yes", "on") for k in ("HF_HUB_OFFLINE", "VADBENCH_OFFLINE"))


def resolve_clip_weights(spec: str | Path, cache_dir: str | None = None) -> Path:
    """A local weight file for CLIP ViT-B/16: the file named, or for `openai` the cached hub file
    (downloaded into the cache when online). Raises WeightsError naming the file or the cache."""
    if str(spec) != "openai":
        path = Path(spec).expanduser()
        if not path.is_file():
            raise WeightsError(f"CLIP weights file not found: {path} (a local file, or `openai` for OpenAI's "
                               f"ViT-B/16 weights from the Hugging Face hub cache)")
        return path
    from huggingface_hub import constants, hf_hub_download

    where = cache_dir or constants.HF_HUB_CACHE
    for name in HUB_FILES:   # the cache first: no network
        try:
            return Path(hf_hub_download(OPENAI_HUB_REPO, name, cache_dir=cache_dir, local_files_only=True))
        except Exception:  # noqa: BLE001 - not cached (several hub exception types)
            continue
    errors = []
    if not _offline():
        for name in HUB_FILES:
            try:
                return Path(hf_hub_download(OPENAI_HUB_REPO, name, cache_dir=cache_dir))
            except Exception as err:  # noqa: BLE001
                errors.append(f"{name}: {type(err).__name__}")
    why = "offline (HF_HUB_OFFLINE / VADBENCH_OFFLINE set)" if _offline() else "the download failed (" + "; ".join(errors) + ")"
    raise WeightsError(f"CLIP ViT-B/16 weights `openai` are not in the Hugging Face hub cache ({where}, repo "
                       f"{OPENAI_HUB_REPO}) and {why}; run once on a machine with internet to fill the cache, or "
                       f"pass --weights /path/to/open_clip_pytorch_model.bin (or OpenAI's ViT-B-16.pt)")


class CLIPImageEncoder(nn.Module):
    """open_clip ViT-B/16 image tower on snippet frames: `(N, 3, L, 224, 224)` -> `(N, 512)`."""

    feature_dim = 512

    def __init__(self, frame_pool: str = "center", weights: str | Path | None = None):
        super().__init__()
        if frame_pool not in FRAME_POOLS:
            raise ValueError(f"CLIP frame pooling must be one of {FRAME_POOLS}, got {frame_pool!r}")
        open_clip = _open_clip()
        import logging

        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)   # open_clip warns that a model without weights is random
        try:
            model = open_clip.create_model(CLIP_MODEL, pretrained=None)
        finally:
            logging.getLogger().setLevel(quiet)
        if weights is not None:
            try:
                open_clip.load_checkpoint(model, str(weights))
            except Exception as err:  # noqa: BLE001 - torch / open_clip raise several types
                raise WeightsError(f"weights file {weights} is not a CLIP ViT-B/16 checkpoint open_clip can load: "
                                   f"{type(err).__name__}: {err}") from err
        self.visual = model.visual   # the text tower is not needed
        self.frame_pool = frame_pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, length, h, w = x.shape
        if (h, w) != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"clip_vit_b16 takes {IMAGE_SIZE}x{IMAGE_SIZE} views, got {h}x{w} "
                             f"(use --crop ten|five|center with --crop-size {IMAGE_SIZE})")
        if self.frame_pool == "center":
            return self.visual(x[:, :, length // 2])
        frames = x.permute(0, 2, 1, 3, 4).reshape(n * length, c, h, w)
        return self.visual(frames).view(n, length, -1).mean(dim=1)


def clip_settings(frame_pool: str) -> dict:
    """What the sidecar records about the CLIP tower (besides the weights' sha256)."""
    try:
        from importlib.metadata import version

        impl = f"open-clip-torch {version('open-clip-torch')}"
    except Exception:  # noqa: BLE001
        impl = "open-clip-torch"
    return {"model": CLIP_MODEL, "implementation": impl, "frame_pool": frame_pool, "image_size": IMAGE_SIZE,
            "embedding": "encode_image: projected, not L2-normalised"}
