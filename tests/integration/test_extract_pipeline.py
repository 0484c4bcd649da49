"""`vadbench extract` end to end on tiny generated videos: outputs, failures, resume, MIL datamodule."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from vadbench.commands.extract import main as extract_main
from vadbench.features import ExtractionConfig, FeatureExtractor, discover_videos

TINY = ["--backbone", "tiny3d", "--snippet-len", "8", "--resize", "40x48", "--crop-size", "32",
        "--resize-filter", "bilinear", "--batch-size", "16", "--no-progress"]
PATCH = ["--patch-grids", "2x3", "--patch-frame-size", "48x84"]


@pytest.fixture(autouse=True)
def _one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the CLI then keeps torch's thread count
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def write_video(path, frames: int, seed: int, size=(48, 64), fps: int = 25) -> None:
    """A small H.264 (or MPEG-4) clip of moving noise blocks."""
    import av

    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        base = rng.integers(0, 255, (size[0], size[1], 3), dtype=np.uint8)
        for i in range(frames):
            img = np.roll(base, 2 * i, axis=1)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "Normal_Videos001_x264.mp4", 36, 0)
    write_video(root / "Normal_Videos002_x264.mp4", 20, 1)
    write_video(root / "Abuse001_x264.mp4", 40, 2)
    frames = root / "frames" / "Abuse002_x264"  # a frame folder beside the files
    frames.mkdir(parents=True)
    from PIL import Image

    rng = np.random.default_rng(3)
    for i in range(17):
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(frames / f"{i:03d}.jpg")
    return root


def test_extract_outputs_sidecars_and_datamodule(videos, tmp_path):
    out = tmp_path / "features"
    assert extract_main([str(videos), str(out), *TINY, *PATCH, "--workers", "1"]) == 0
    expected_t = {"Normal_Videos001_x264": 5, "Normal_Videos002_x264": 3, "Abuse001_x264": 5, "Abuse002_x264": 3}
    for name, t in expected_t.items():  # T = ceil(F / 8)
        clip = np.load(out / f"{name}_i3d.npy")
        patch = np.load(out / f"{name}_patch23_i3d.npy")
        assert clip.shape == (t, 10, 128) and patch.shape == (t, 6, 128)
        assert clip.dtype == np.float32 and np.isfinite(clip).all()
        meta = json.loads((out / f"{name}_i3d.npy.json").read_text())
        assert meta["settings"]["weights"] == "random_init" and meta["settings"]["seed"] == 0
        assert meta["settings"]["backbone"] == "tiny3d" and meta["settings"]["crop"] == "ten"
        assert meta["video"]["snippets"] == t
        pmeta = json.loads((out / f"{name}_patch23_i3d.npy.json").read_text())
        assert pmeta["settings"]["grid"] == [2, 3] and pmeta["settings"]["window"] == [24, 28]
    assert not np.allclose(np.load(out / "Abuse001_x264_i3d.npy")[0, 0], np.load(out / "Abuse001_x264_i3d.npy")[0, 5])

    # the MIL datamodule reads them unchanged, patch scale included
    from vadbench.data.mil import MILFeatureDataModule

    (tmp_path / "train.list").write_text("".join(f"/elsewhere/{n}_i3d.npy\n" for n in expected_t))
    (tmp_path / "test.list").write_text("".join(f"G:\\feats\\{n}_i3d.npy\n" for n in expected_t))
    ann = tmp_path / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    ann.write_text("Abuse001_x264.mp4  Abuse  9  24  -1  -1\nAbuse002_x264.mp4  Abuse  1  17  -1  -1\n"
                   "Normal_Videos001_x264.mp4  Normal  -1  -1  -1  -1\nNormal_Videos002_x264.mp4  Normal  -1  -1  -1  -1\n")
    dm = MILFeatureDataModule(dataset="ucf_crime", root=str(out), train_list=str(tmp_path / "train.list"),
                              test_list=str(tmp_path / "test.list"), annotations=str(ann), patch_scales=["patch23"],
                              feature_dim=128, frames_per_snippet=8, num_segments=4, batch_size=2)
    dm.setup("fit")
    train = next(iter(dm.train_dataloader()))
    assert train.features.shape == (4, 4, 10, 128) and train.patches["patch23"].shape == (4, 4, 6, 128)
    test = next(iter(dm.test_dataloader()))
    assert test.features.shape[2:] == (10, 128) and test.patches["patch23"].shape[2:] == (6, 128)
    assert test.frame_labels.shape[1] == test.features.shape[1] * 8


def test_failures_are_named_and_the_rest_goes_on(videos, tmp_path, capsys):
    bad_root = tmp_path / "in"
    bad_root.mkdir()
    for f in ("Abuse001_x264.mp4", "Normal_Videos002_x264.mp4"):
        os.symlink(videos / f, bad_root / f)
    (bad_root / "Broken001.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    out = tmp_path / "features"
    code = extract_main([str(bad_root), str(out), *TINY, "--workers", "0"])
    assert code == 1
    summary = capsys.readouterr().out
    assert "FAILED Broken001" in summary and "extracted 2 videos" in summary
    assert (out / "Abuse001_x264_i3d.npy").is_file() and not (out / "Broken001_i3d.npy").exists()
    assert extract_main([str(tmp_path / "absent"), str(out), *TINY]) == 2


def test_resume_skips_finished_cleans_stale_temps_and_redoes_changed_settings(videos, tmp_path, capsys):
    out = tmp_path / "features"
    args = [str(videos), str(out), *TINY, "--workers", "0"]
    assert extract_main(args) == 0
    first = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    reference = np.load(out / "Abuse001_x264_i3d.npy")
    # an interrupted run left a temp file and never wrote one video's sidecar
    stale = out / f".Abuse001_x264_i3d.npy.{2 ** 22 + 4242}.tmp"
    stale.write_bytes(b"half-written")
    (out / "Normal_Videos002_x264_i3d.npy.json").unlink()
    capsys.readouterr()
    assert extract_main(args) == 0
    summary = capsys.readouterr().out
    assert "extracted 1 videos" in summary and "skipped 3 already finished" in summary
    assert not stale.exists()
    again = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    changed = {n for n in first if first[n] != again[n]}
    assert changed == {"Normal_Videos002_x264_i3d.npy"}
    # a different seed is a different setting: everything is redone, deterministically
    assert extract_main(args[:-2] + ["--seed", "1", "--workers", "0"]) == 0
    assert not np.allclose(np.load(out / "Abuse001_x264_i3d.npy"), reference)
    assert extract_main(args) == 0
    np.testing.assert_array_equal(np.load(out / "Abuse001_x264_i3d.npy"), reference)


def test_batched_workers_equal_one_video_at_a_time(videos, tmp_path):
    cfg = ExtractionConfig(backbone="tiny3d", snippet_len=8, resize="40x48", crop="center", crop_size=32,
                           resize_filter="bilinear", patch_grids=["2x3"], patch_frame_size="48x84")
    sources = discover_videos(videos)
    loop = FeatureExtractor(cfg, batch_size=4, workers=0, cross_video_batching=False)
    batched = FeatureExtractor(cfg, batch_size=64, workers=2, chunk_snippets=2, backbone=loop.backbone)
    assert loop.run(sources, tmp_path / "a", progress=False).ok
    assert batched.run(sources, tmp_path / "b", progress=False).ok
    for f in sorted((tmp_path / "a").glob("*.npy")):
        np.testing.assert_allclose(np.load(f), np.load(tmp_path / "b" / f.name), rtol=1e-4, atol=1e-5)
