"""`vadbench extract --layout per_crop` (any backbone: Wu et al.'s `<video>__<c>.npy` files, equal to the
stacked file's crop columns, read back by the per_crop datamodule) and `--backbone clip_vit_b16` (CLIP
ViT-B/16 image embeddings with open_clip: random init in tests, the recipe in the sidecar, a clear error
for weights that are not there)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.integration.test_extract_pipeline import write_video
from vadbench.commands.extract import main as extract_main
from vadbench.data.mil.validation import ExtractionFacts, read_sidecar

TINY = ["--backbone", "tiny3d", "--snippet-len", "8", "--resize", "40x48", "--crop-size", "32",
        "--resize-filter", "bilinear", "--batch-size", "16", "--no-progress", "--workers", "0"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")   # tests/conftest.py


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    write_video(root / "Fight__#1_label_B1-0-0.mp4", 36, 0)
    write_video(root / "Street__#2_label_A.mp4", 20, 1)
    return root


@pytest.mark.parametrize("crop,views", [("five", 5), ("ten", 10)])
def test_per_crop_files_are_the_stacked_files_crop_columns(videos, tmp_path, crop, views):
    assert extract_main([str(videos), str(tmp_path / "stacked"), *TINY, "--crop", crop]) == 0
    assert extract_main([str(videos), str(tmp_path / "per_crop"), *TINY, "--crop", crop, "--layout", "per_crop"]) == 0
    for name in ("Fight__#1_label_B1-0-0", "Street__#2_label_A"):
        stacked = np.load(tmp_path / "stacked" / f"{name}_i3d.npy")
        assert stacked.shape[1] == views
        for c in range(views):
            path = tmp_path / "per_crop" / f"{name}__{c}.npy"
            assert np.array_equal(np.load(path), stacked[:, c])
            meta = read_sidecar(path)
            assert meta["settings"]["file_layout"] == "per_crop" and meta["video"]["crop"] == c
            assert meta["settings"]["crop"] == crop and meta["settings"]["views"] == views
        assert not (tmp_path / "per_crop" / f"{name}__{views}.npy").exists()
    # a re-run skips the finished videos (every crop file checked)
    assert extract_main([str(videos), str(tmp_path / "per_crop"), *TINY, "--crop", crop, "--layout", "per_crop"]) == 0


def test_five_crop_order_is_centre_then_corners():
    from vadbench.features.transforms import clip_views, crop_positions

    x = torch.arange(2 * 3 * 1 * 6 * 8, dtype=torch.float32).view(2, 3, 1, 6, 8)
    five = clip_views(x, "five", 4)
    ten = clip_views(x, "ten", 4)
    # ten = [TL, TR, C, BL, BR, flipped ...]; five = [C, TL, TR, BL, BR]
    assert torch.equal(five, ten[:, [2, 0, 1, 3, 4]])
    assert crop_positions(6, 8, 4)[2] == (1, 2)


def test_per_crop_extraction_feeds_the_per_crop_datamodule(videos, tmp_path):
    from vadbench.data.mil import MILFeatureDataModule

    out = tmp_path / "feats"
    assert extract_main([str(videos), str(out), *TINY, "--crop", "five", "--layout", "per_crop"]) == 0
    (out / "train.list").write_text("\n".join(f"E:/x/{n}__{c}.npy" for n in ("Fight__#1_label_B1-0-0", "Street__#2_label_A")
                                              for c in range(5)) + "\n")
    (out / "XD_Annotation.txt").write_text("Fight__#1_label_B1-0-0 0 12\n")
    dm = MILFeatureDataModule(dataset="xd_violence", root=str(out), train_list=str(out / "train.list"),
                              test_list=str(out / "train.list"), feature_layout="per_crop", crops=5, batch_size=1)
    dm.setup("fit")
    assert dm.frames_per_snippet == 8 and dm.feature_dim == 128       # from the per-crop sidecars
    batch = next(iter(dm.test_dataloader()))
    assert batch.features.shape[2:] == (5, 128)
    assert dm.facts.settings["crop"] == "five" and dm.result_metadata()["extras"]["extraction"]["backbone"] == "tiny3d"


@pytest.mark.parametrize("pool", ["center", "mean"])
def test_clip_encoder_embeds_the_middle_frame_or_the_mean_of_the_frames(pool):
    from torch import nn

    from vadbench.features.clip import CLIPImageEncoder

    enc = CLIPImageEncoder.__new__(CLIPImageEncoder)   # the pooling only: a stand-in image tower, no ViT
    nn.Module.__init__(enc)
    enc.visual, enc.frame_pool = _FirstPixel(), pool
    x = torch.rand(2, 3, 5, 224, 224)
    expected = x[:, 0, 2, 0, 0] if pool == "center" else x[:, 0, :, 0, 0].mean(dim=1)
    assert torch.allclose(enc(x)[:, 0], expected)


class _FirstPixel(torch.nn.Module):
    def forward(self, frames):   # (n, 3, 224, 224) -> (n, 1)
        return frames[:, 0, :1, 0]


def test_clip_weights_missing_or_offline_are_clear_errors(tmp_path, monkeypatch):
    from vadbench.features.clip import resolve_clip_weights
    from vadbench.models.components.weights import WeightsError

    with pytest.raises(WeightsError, match=r"CLIP weights file not found: .*nope\.bin"):
        resolve_clip_weights(tmp_path / "nope.bin")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")   # no network call: the cache only
    with pytest.raises(WeightsError, match=r"`openai` are not in the Hugging Face hub cache \(.*empty_cache.*offline"):
        resolve_clip_weights("openai", cache_dir=str(tmp_path / "empty_cache"))
    # through the command: one line naming the option, exit status 2, before any video is decoded
    rc = extract_main([str(tmp_path), str(tmp_path / "out"), "--backbone", "clip_vit_b16", "--weights",
                       str(tmp_path / "nope.bin"), "--no-progress"])
    assert rc == 2
    assert extract_main([str(tmp_path), str(tmp_path / "out"), "--backbone", "clip_vit_b16", "--crop", "full",
                         "--no-progress"]) == 2


@pytest.mark.slow  # open_clip import + a random-init ViT-B/16 (86M parameters) + 4 images at 224 px: ~20 s on a CPU
def test_clip_vit_b16_extraction_random_init_writes_vadclip_layout(videos, tmp_path, capsys):
    out = tmp_path / "clip"
    args = [str(videos), str(out), "--backbone", "clip_vit_b16", "--snippet-len", "16", "--resize", "224x224",
            "--crop", "center", "--layout", "per_crop", "--videos", "Fight__#1_label_B1-0-0", "--batch-size", "4",
            "--no-progress", "--workers", "0"]
    assert extract_main(args) == 0
    assert "RANDOM INIT" in capsys.readouterr().out
    feats = np.load(out / "Fight__#1_label_B1-0-0__0.npy")
    assert feats.shape == (3, 512) and np.isfinite(feats).all() and feats.std() > 0   # ceil(36 / 16) snippets
    settings = read_sidecar(out / "Fight__#1_label_B1-0-0__0.npy")["settings"]
    assert settings["backbone"] == "clip_vit_b16" and settings["weights"] == "random_init"
    assert settings["normalisation"] == "clip" and settings["crop_size"] == 224
    assert settings["clip"]["model"] == "ViT-B-16" and settings["clip"]["frame_pool"] == "center"
    assert settings["clip"]["implementation"].startswith("open-clip-torch")
    facts = ExtractionFacts()
    facts.add(out / "Fight__#1_label_B1-0-0__0.npy", {"settings": settings})
    assert facts.settings["feature_dim"] == 512
    # same seed, same numbers (random init is reproducible)
    assert extract_main(args + ["--overwrite"]) == 0
    assert np.array_equal(np.load(out / "Fight__#1_label_B1-0-0__0.npy"), feats)
    json.dumps(settings)
