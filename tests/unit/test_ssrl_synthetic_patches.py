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


def test_pooling_weights_partition_every_view():
    """Each cell of any grid (and the frame) is an area-weighted mean of the fine 4x7 cells."""
    from vadbench.data.synthetic import _pooling

    for rows, cols in [(2, 3), (3, 5), (4, 7)]:
        w = _pooling(rows, cols, (4, 7))
        assert w.shape == (rows * cols, 28) and np.allclose(w.sum(1), 1) and (w >= 0).all()
    assert np.allclose(_pooling(4, 7, (4, 7)), np.eye(28))


def test_a_small_event_is_strong_in_its_patch_and_diluted_in_the_clip():
    from vadbench.data.synthetic import _scene_views

    cfg = SyntheticMILConfig(feature_dim=64, crops=2, patch_grids=["patch23", "patch35", "patch47"], gain_jitter=0.0,
                             magnitude_boost=0.0, patch_event_strength=2.0)
    direction = np.eye(64)[0]
    cell = (0.0, 0.25, 0.0, 1 / 7)                       # fine cell 0 of the 4x7 grid
    decoy_dirs = [np.eye(64)[1]]

    def views(strength):
        rng = np.random.default_rng(7)
        return _scene_views(rng, cfg, 6, [(2, 4)], [cell], strength * direction, [], [], decoy_dirs)

    (clip, patches), (clip0, patches0) = views(1.0), views(0.0)
    shift = 2.0 * np.sqrt(64)
    moved = lambda a, b: np.abs(a[2:4] - b[2:4])[..., 0].mean(0)   # noqa: E731 - per view, along the direction
    assert np.allclose(clip[:2], clip0[:2]) and np.allclose(patches["patch47"][4:], patches0["patch47"][4:])
    fine = moved(patches["patch47"], patches0["patch47"])
    assert fine[0] > 0.8 * shift and np.allclose(fine[1:], 0)
    coarse = moved(patches["patch23"], patches0["patch23"])
    assert 0.1 * shift < coarse[0] < 0.3 * shift            # 1/28 of the frame inside a 1/6 cell: 6/28
    assert moved(clip, clip0).max() < 0.06 * shift          # the clip: 1/28
