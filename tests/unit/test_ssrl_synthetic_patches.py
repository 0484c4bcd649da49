"""The synthetic MIL set's patch features: layout, determinism, where anomalies are, clip files untouched."""

import json

import numpy as np

from vadbench.data.synthetic import SyntheticMILConfig, grid_shape, write_synthetic_mil

SMALL = dict(train_normal=2, train_abnormal=3, test_normal=2, test_abnormal=3, min_snippets=10, max_snippets=14,
             feature_dim=16, crops=2)


def test_patch_files_layout_and_determinism(tmp_path):
    cfg = SyntheticMILConfig(**SMALL, patch_grids=["patch23", "patch35", "patch47"])
    a = write_synthetic_mil(tmp_path / "a", cfg)
    b = write_synthetic_mil(tmp_path / "b", cfg)
    clip = np.load(a / "features/test/Abuse500_x264_i3d.npy")
    for scale in cfg.patch_grids:
        rows, cols = grid_shape(scale)
        x = np.load(a / f"features/test/Abuse500_x264_{scale}_i3d.npy")
        assert x.shape == (clip.shape[0], rows * cols, 16) and x.dtype == np.float32 and (x >= 0).all()
        assert np.array_equal(x, np.load(b / f"features/test/Abuse500_x264_{scale}_i3d.npy"))
    assert json.loads((a / "synthetic.json").read_text())["patch_grids"] == cfg.patch_grids


def test_without_patches_the_clip_set_and_its_settings_are_unchanged(tmp_path):
    plain = SyntheticMILConfig(**SMALL)
    assert "patch_grids" not in plain.to_dict()
    out = write_synthetic_mil(tmp_path / "plain", plain)
    assert not list(out.rglob("*patch*"))
    assert json.loads((out / "synthetic.json").read_text()) == plain.to_dict()


def test_anomalies_are_local_in_patches():
    """An anomaly confined to one 4x7 cell moves that patch strongly and the clip only by its area."""
    from vadbench.data.synthetic import _coverage

    cover = _coverage((0.0, 0.25, 0.0, 1 / 7), 4, 7)
    assert cover[0] == 1 and cover[1:].sum() == 0
    coarse = _coverage((0.0, 0.25, 0.0, 1 / 7), 2, 3)
    assert np.isclose(coarse[0], (0.25 / 0.5) * ((1 / 7) / (1 / 3))) and coarse[1:].sum() == 0
