"""The decode worker's fast paths (issue #15): one swscale context per video, resizing inside the
decoder (`sws_*` filters), shared-memory snippet chunks, reused device workspaces, the cheap tiny3d.

Each is checked against the straightforward computation it replaced: PyAV's per-frame
`to_ndarray(format="rgb24")`, PIL resizing of the RGB frame, fresh tensors per batch, and the
features of a snippet computed by hand from those frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REAL
from vadbench.features import ExtractionConfig, FeatureExtractor
from vadbench.features.backbones import build_backbone
from vadbench.features.pipeline import SnippetStream
from vadbench.features.transforms import clip_views, resize_frame, to_float_clips
from vadbench.features.video_io import VideoSource, iter_frames

REAL_CLIP = REAL / "open-mmlab_mmaction2" / "demo" / "demo.mp4"


def write_clip(path: Path, frames: int = 20, size=(60, 90), seed: int = 0) -> Path:
    """An MPEG-4 clip of moving noise (its frames are YUV 4:2:0, as real videos): the bench's generator."""
    from vadbench.benchmarks.extract import generated_clip

    generated_clip(path, frames=frames, size=size, seed=seed)
    return path


@pytest.fixture
def clip(tmp_path) -> VideoSource:
    return VideoSource("gen", write_clip(tmp_path / "gen.mp4"), "file")


def pyav_frames(src: VideoSource) -> list[np.ndarray]:
    """The frames as PyAV gives them one by one (a new swscale context per frame)."""
    import av

    with av.open(str(src.path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_reused_swscale_context_gives_pyavs_pixels(clip):
    ours, ref = list(iter_frames(clip)), pyav_frames(clip)
    assert len(ours) == len(ref) == 20
    assert all(np.array_equal(a, b) for a, b in zip(ours, ref))


def test_sizes_with_a_pil_filter_are_pil_resizes_of_the_rgb_frames(clip):
    ref = pyav_frames(clip)
    info: dict = {}
    out = list(iter_frames(clip, info=info, sizes=((30, 40), None, 32), resize_filter="bilinear"))
    assert len(out) == 20 and all(o[1] is None for o in out)
    for (a, _, c), frame in zip(out, ref):
        assert np.array_equal(a, resize_frame(frame, (30, 40), "bilinear"))
        assert c.shape == (32, 48, 3)  # short side 32, aspect 60x90 kept
        assert np.array_equal(c, resize_frame(frame, (32, 48), "bilinear"))
    assert info["decode_seconds"] > 0 and info["convert_seconds"] > 0 and info["decoded_frames"] == 20


def test_sws_filter_resizes_the_decoded_frame_in_one_pass(clip):
    import av

    with av.open(str(clip.path)) as container:
        ref = [f.reformat(width=40, height=30, format="rgb24", interpolation="BILINEAR").to_ndarray()
               for f in container.decode(video=0)]
    sws = [f for (f,) in iter_frames(clip, sizes=((30, 40),), resize_filter="sws_bilinear")]
    assert all(np.array_equal(a, b) for a, b in zip(sws, ref)) and len(sws) == 20
    pil = [f for (f,) in iter_frames(clip, sizes=((30, 40),), resize_filter="bilinear")]
    sws, pil = np.stack(sws).astype(float), np.stack(pil).astype(float)
    assert np.abs(sws - pil).mean() > 0  # not the same pixels (so a separate setting) ...
    assert np.abs(sws.mean(axis=(1, 2)) - pil.mean(axis=(1, 2))).max() < 2  # ... but the same picture
    assert np.corrcoef(sws.ravel(), pil.ravel())[0, 1] > 0.9  # (moving noise: the hardest case)


def test_resampled_frames_are_converted_once(tmp_path):
    src = VideoSource("gen", write_clip(tmp_path / "gen.mp4", frames=10), "file")
    info: dict = {}
    out = list(iter_frames(src, fps=50, info=info, sizes=((30, 40),), resize_filter="bilinear"))
    assert len(out) == 20  # 25 -> 50 fps: every frame twice
    assert all(out[2 * i] is out[2 * i + 1] for i in range(10)) and out[0] is not out[2]


def test_worker_chunks_hold_the_resized_frames(tmp_path):
    clip = VideoSource("gen", write_clip(tmp_path / "gen.mp4", frames=22), "file")
    cfg = ExtractionConfig(backbone="tiny3d", snippet_len=8, stride=4, resize="30x40", crop="full",
                           resize_filter="bilinear")
    frames = [f for (f, _) in iter_frames(clip, sizes=((30, 40), None), resize_filter="bilinear")]
    chunks = list(SnippetStream([clip], cfg, chunk_snippets=2))
    snippets = torch.cat([c["clip"] for c in chunks if c["clip"] is not None])
    assert chunks[-1]["done"] and chunks[-1]["num_snippets"] == snippets.shape[0] == 5  # ceil((22 - 8) / 4) + 1
    for k in range(5):  # snippet k = frames 4k .. 4k+7, the last frame repeated past the end
        want = np.stack([frames[min(i, 21)] for i in range(4 * k, 4 * k + 8)])
        assert np.array_equal(snippets[k].numpy(), want)
    assert set(chunks[-1]["seconds"]) == {"decode", "resize", "pack"}


def test_workspaces_are_reused_and_a_smaller_batch_is_exact():
    cfg = ExtractionConfig(backbone="tiny3d", snippet_len=8, resize="40x48", crop="ten", crop_size=32)
    ex = FeatureExtractor(cfg, device="cpu", batch_size=20)
    rng = np.random.default_rng(0)
    big = torch.from_numpy(rng.integers(0, 255, (3, 8, 40, 48, 3), dtype=np.uint8))
    small = big[1:2].clone()
    first = ex._views_features("clip", big)[""]
    crops = ex._buffers["crops"]
    again = ex._views_features("clip", small)[""]
    assert ex._buffers["crops"] is crops  # the same buffer, its first third in use
    with torch.inference_mode():  # by hand, fresh tensors
        v = clip_views(to_float_clips(small, "i3d"), "ten", 32)
        ref = ex.model(v.reshape(10, 3, 8, 32, 32)).reshape(1, 10, -1).numpy()
    np.testing.assert_allclose(again, ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first[1:2], ref, rtol=1e-5, atol=1e-6)


def test_tiny3d_is_cheap_and_takes_any_clip_size():
    net = build_backbone("tiny3d").module
    macs = []

    def count(mod, inp, out):
        macs.append(out.numel() * mod.weight[0].numel())

    hooks = [m.register_forward_hook(count) for m in net.modules() if isinstance(m, torch.nn.Conv3d)]
    with torch.inference_mode():
        assert net(torch.zeros(1, 3, 16, 112, 112)).shape == (1, 128)
        for h in hooks:
            h.remove()
        assert 11e6 < sum(macs) < 14e6, sum(macs)  # 12.6 M multiply-adds per 16x112x112 clip (was ~400 M)
        for shape in ((2, 3, 1, 5, 7), (1, 3, 9, 33, 30)):  # padded to 2x4x4 multiples
            y = net(torch.rand(shape))
            assert y.shape == (shape[0], 128) and torch.isfinite(y).all()


def _features_by_hand(src: VideoSource, cfg: ExtractionConfig) -> np.ndarray:
    """What the extraction must give: PyAV frames, PIL resize, 16-frame snippets, ten crops, tiny3d."""
    frames = [resize_frame(f, (128, 170), cfg.resize_filter) for f in pyav_frames(src)]
    n = -(-len(frames) // cfg.snippet_len)
    snippets = np.stack([np.stack([frames[min(i, len(frames) - 1)] for i in range(s * 16, s * 16 + 16)])
                         for s in range(n)])
    net = build_backbone(cfg.backbone, seed=cfg.seed).module
    with torch.inference_mode():
        v = clip_views(to_float_clips(torch.from_numpy(snippets), "i3d"), "ten", 112)
        return torch.cat([net(v[i]) for i in range(n)]).reshape(n, 10, 128).numpy()


@pytest.mark.parametrize("workers", [0, 1])
def test_extraction_matches_the_frames_resized_by_hand(workers, tmp_path, one_torch_thread):
    if REAL_CLIP.is_file():  # a real H.264 clip (340x256, 280 frames), else a generated one
        src = VideoSource("demo", REAL_CLIP, "file")
    else:
        src = VideoSource("gen", write_clip(tmp_path / "gen.mp4", frames=40, size=(144, 192)), "file")
    cfg = ExtractionConfig(backbone="tiny3d", snippet_len=16, resize="128x170", crop="ten", crop_size=112,
                           resize_filter="bilinear")
    ex = FeatureExtractor(cfg, device="cpu", batch_size=40, workers=workers)
    report = ex.run([src], tmp_path / "out", progress=False)
    assert report.ok and set(report.main_seconds) == {"wait", "crops", "network", "write"}
    got = np.load(tmp_path / "out" / f"{src.name}_i3d.npy")
    np.testing.assert_allclose(got, _features_by_hand(src, cfg), rtol=1e-4, atol=1e-5)


def test_sws_filter_on_a_frame_folder_and_in_the_sidecar(tmp_path, one_torch_thread):
    from PIL import Image

    from vadbench.commands.extract import main as extract_main

    folder = tmp_path / "in" / "Test001"
    folder.mkdir(parents=True)
    y, x = np.mgrid[0:60, 0:90]
    for i in range(8):  # smooth moving gradients: swscale and PIL agree closely on them
        img = np.stack([(x * 2 + 5 * i) % 256, (y * 3) % 256, (x + y + 7 * i) % 256], -1).astype(np.uint8)
        Image.fromarray(img).save(folder / f"{i:03d}.png")
    src = VideoSource("Test001", folder, "frames")
    sws = [f for (f,) in iter_frames(src, sizes=((30, 40),), resize_filter="sws_bilinear")]
    pil = [f for (f,) in iter_frames(src, sizes=((30, 40),), resize_filter="bilinear")]
    full = list(iter_frames(src))
    assert all(np.array_equal(a, resize_frame(f, (30, 40), "sws_bilinear")) for a, f in zip(sws, full))
    assert 0 < np.abs(np.stack(sws).astype(int) - np.stack(pil).astype(int)).mean() < 3
    out = tmp_path / "out"
    assert extract_main([str(tmp_path / "in"), str(out), "--backbone", "tiny3d", "--snippet-len", "8", "--resize",
                         "30x40", "--crop", "full", "--resize-filter", "sws_bilinear", "--workers", "1",
                         "--no-progress"]) == 0
    import json

    meta = json.loads((out / "Test001_i3d.npy.json").read_text())
    assert meta["settings"]["resize_filter"] == "sws_bilinear" and np.load(out / "Test001_i3d.npy").shape == (1, 1, 128)


def test_patch_grids_share_one_reused_buffer_exactly():
    from vadbench.features.transforms import patch_views

    cfg = ExtractionConfig(backbone="tiny3d", snippet_len=4, patch_grids=["2x3", "3x5"], patch_frame_size="48x60",
                           clip=False)
    ex = FeatureExtractor(cfg, device="cpu", batch_size=40)
    rng = np.random.default_rng(1)
    snippets = torch.from_numpy(rng.integers(0, 255, (2, 4, 48, 60, 3), dtype=np.uint8))
    for _ in range(2):  # the second pass reuses the buffers the first one filled
        got = ex._views_features("patch", snippets)
    assert set(got) == {"_patch23", "_patch35"} and set(ex._buffers) == {"patch_frames", "patches"}
    with torch.inference_mode():
        x = to_float_clips(snippets, "i3d")
        for tag, grid in (("_patch23", (2, 3)), ("_patch35", (3, 5))):
            v = patch_views(x, grid)
            ref = ex.model(v.reshape(-1, *v.shape[2:]).contiguous()).reshape(2, grid[0] * grid[1], -1).numpy()
            np.testing.assert_allclose(got[tag], ref, rtol=1e-5, atol=1e-6)
