"""Views, snippet counts, layouts, frame-rate resampling and the output files of `vadbench extract`."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from vadbench.features.outputs import (ExtractionConfig, atomic_write, clean_stale_temp_files, is_finished,
                                       save_output)
from vadbench.features.transforms import (clip_views, crop_positions, grid_tag, parse_grid, parse_size, patch_views,
                                          to_float_clips)
from vadbench.features.video_io import VideoSource, discover_videos, iter_frames


def test_ten_crop_matches_the_community_positions_and_order():
    # frames resized to 256x340, 224 crops: centre = [16:240, 58:282] as in the community extractor
    assert crop_positions(256, 340, 224) == [(0, 0), (0, 116), (16, 58), (32, 0), (32, 116)]
    x = torch.arange(2 * 3 * 2 * 6 * 8, dtype=torch.float32).reshape(2, 3, 2, 6, 8)
    v = clip_views(x, "ten", 4)
    assert v.shape == (2, 10, 3, 2, 4, 4)
    assert torch.equal(v[:, 2], x[..., 1:5, 2:6])
    assert torch.equal(v[:, 1], x[..., 0:4, 4:8])
    assert torch.equal(v[:, 5], x.flip(-1)[..., 0:4, 0:4])  # flipped top-left
    assert torch.equal(clip_views(x, "center", 4)[:, 0], v[:, 2])
    assert clip_views(x, "full", 4).shape == (2, 1, 3, 2, 6, 8)


def test_ten_crops_are_built_without_extra_copies():
    """uint8 snippets -> one contiguous float frame tensor -> one contiguous 10-crop tensor whose
    `(n*10, ...)` reshape for the backbone is a view; values as crops of the normalised frames."""
    snippets = torch.randint(0, 256, (2, 3, 10, 12, 3), dtype=torch.uint8)  # (n, L, H, W, 3)
    x = to_float_clips(snippets, "imagenet")
    assert x.shape == (2, 3, 3, 10, 12) and x.is_contiguous()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(x, (snippets.permute(0, 4, 1, 2, 3).float() / 255 - mean) / std)
    v = clip_views(x, "ten", 8)
    assert v.is_contiguous()
    flat = v.reshape(20, *v.shape[2:])
    assert flat.data_ptr() == v.data_ptr()  # a view: no copy before the backbone
    reference = torch.stack([img[..., t:t + 8, l:l + 8] for img in (x, x.flip(-1))
                             for t, l in crop_positions(10, 12, 8)], dim=1)
    assert torch.equal(v, reference)


def test_patch_views_are_row_major_windows():
    h, w, rows, cols = 480, 840, 4, 7
    x = torch.zeros(1, 3, 1, h, w)
    for r in range(rows):
        for c in range(cols):
            x[..., r * 120:(r + 1) * 120, c * 120:(c + 1) * 120] = r * cols + c
    v = patch_views(x, (rows, cols))
    assert v.shape == (1, 28, 3, 1, 120, 120)
    assert [int(v[0, p].unique().item()) for p in range(28)] == list(range(28))
    assert patch_views(torch.zeros(1, 3, 1, 480, 840), (2, 3)).shape[-2:] == (240, 280)
    assert patch_views(torch.zeros(1, 3, 1, 480, 840), (3, 5)).shape[-2:] == (160, 168)


def test_parsers_and_tags():
    assert parse_size("256x340") == (256, 340) and parse_size("256") == 256
    assert parse_grid("2x3") == parse_grid("23") == parse_grid("patch23") == (2, 3)
    assert grid_tag((4, 7)) == "patch47"
    with pytest.raises(ValueError):
        parse_size("big")
    with pytest.raises(ValueError, match="does not divide"):
        ExtractionConfig(patch_grids=["3x5"], patch_frame_size="100x100")


def test_i3d_normalisation_maps_to_minus_one_one():
    x = torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2, 1).expand(1, 1, 1, 2, 3)
    y = to_float_clips(x, "i3d")
    assert torch.allclose(y[0, :, 0, 0, 0], torch.full((3,), -1.0)) and torch.allclose(y[0, :, 0, 0, 1], torch.ones(3))


@pytest.mark.parametrize("frames,length,tail,expected", [(180, 8, "pad", 23), (180, 8, "drop", 22), (160, 16, "pad", 10),
                                                         (161, 16, "pad", 11), (161, 16, "drop", 10), (5, 16, "pad", 1),
                                                         (5, 16, "drop", 0)])
def test_num_snippets(frames, length, tail, expected):
    assert ExtractionConfig(snippet_len=length, tail=tail).num_snippets(frames) == expected


def _frames(folder, n, value=None):
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((8, 10, 3), i if value is None else value, np.uint8)).save(folder / f"{i:03d}.jpg")


def test_ucsd_ped2_layout_names(tmp_path):
    _frames(tmp_path / "training" / "frames" / "01", 2)
    _frames(tmp_path / "testing" / "frames" / "12", 2)
    names = [s.name for s in discover_videos(tmp_path, "ucsd_ped2")]
    assert names == ["Test012", "Train001"]
    official = tmp_path / "official"
    _frames(official / "UCSDped2" / "Test" / "Test003", 2)
    _frames(official / "UCSDped2" / "Test" / "Test003_gt", 2)  # pixel masks: skipped
    assert [s.name for s in discover_videos(official, "ucsd_ped2")] == ["Test003"]
    with pytest.raises(ValueError, match="two inputs map to the output name '01'"):
        _frames(tmp_path / "testing" / "frames" / "01", 1)
        discover_videos(tmp_path, "flat")
    with pytest.raises(FileNotFoundError, match="no videos"):
        (tmp_path / "empty").mkdir()
        discover_videos(tmp_path / "empty")


def test_frame_rate_resampling_of_a_frame_folder(tmp_path):
    _frames(tmp_path / "v", 10)
    src = VideoSource("v", tmp_path / "v", "frames")
    assert len(list(iter_frames(src))) == 10
    half = [int(f[0, 0, 0]) for f in iter_frames(src, fps=5, source_fps=10)]
    assert len(half) == 5 and half == pytest.approx([0, 2, 4, 6, 8], abs=2)  # JPEG: approximately the index
    assert len(list(iter_frames(src, fps=20, source_fps=10))) == 20
    with pytest.raises(Exception, match="source-fps"):
        list(iter_frames(src, fps=5))


def test_atomic_write_sidecar_and_resume_rule(tmp_path):
    cfg = ExtractionConfig(backbone="tiny3d")
    settings = cfg.file_settings("", "random_init", 0, 4)
    path = tmp_path / "a_i3d.npy"
    assert not is_finished(path, settings)
    save_output(path, np.ones((3, 10, 4), np.float32), settings, {"name": "a"})
    meta = json.loads((tmp_path / "a_i3d.npy.json").read_text())
    assert meta["settings"]["weights"] == "random_init" and meta["video"]["shape"] == [3, 10, 4]
    assert is_finished(path, settings)
    assert not is_finished(path, {**settings, "seed": 1})  # other settings: not finished
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    def fail(fh):
        fh.write(b"partial")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, fail)
    assert np.load(path).shape == (3, 10, 4)  # the old file is intact, no temp file left
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_stale_temp_files_of_dead_processes_are_removed(tmp_path):
    dead_pid = 2 ** 22 + 12345  # above the default pid_max: no such process
    stale = tmp_path / f".v_i3d.npy.{dead_pid}.tmp"
    stale.write_bytes(b"half")
    live = tmp_path / f".w_i3d.npy.{os.getpid()}.tmp"
    live.write_bytes(b"in progress")
    assert clean_stale_temp_files(tmp_path) == [stale]
    assert not stale.exists() and live.exists()
