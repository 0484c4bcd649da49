"""Feature layouts (stacked, per_crop, single_view) read as one [T, crops, D] tensor; the official per-crop
lists collapsed to videos; every check holds per crop file, errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import REFERENCE, require
from vadbench.data.mil import MILFeatureDataModule
from vadbench.data.mil.features import FeatureFileError, load_features, load_segments
from vadbench.data.mil.layouts import collapse_crop_list
from vadbench.data.synthetic import SyntheticMILConfig, write_synthetic_mil
from vadbench.errors import ConfigError, DataError

WU = REFERENCE / "henrryzh1_UR-DMU" / "list"
SMALL = dict(feature_dim=8, crops=3, train_normal=3, train_abnormal=3, test_normal=2, test_abnormal=2,
             min_snippets=20, max_snippets=40)


def test_collapse_keeps_video_order_and_reads_any_os_path():
    lines = ["E:/a/RGB/v1__0.npy", "E:\\a\\RGB\\v1__1.npy", "/b/v0__1.npy", "v0__0.npy"]
    assert collapse_crop_list(lines, "x.list") == [("v1", (0, 1)), ("v0", (0, 1))]


def test_collapse_refuses_a_crop_listed_twice_and_gaps():
    with pytest.raises(DataError, match=r"x\.list:3: crop file v1__0\.npy is listed twice \(lines 1 and 3\)"):
        collapse_crop_list(["E:/a/v1__0.npy", "E:/a/v1__1.npy", "/other/v1__0.npy"], "x.list")
    with pytest.raises(DataError, match=r"video v1 lists crops \[0, 2\]"):
        collapse_crop_list(["v1__0.npy", "v1__2.npy"], "x.list")
    with pytest.raises(DataError, match="different numbers of crop files"):
        collapse_crop_list(["v1__0.npy", "v1__1.npy", "v2__0.npy"], "x.list")


def test_official_per_crop_lists_collapse_to_the_manifest_videos():
    from vadbench.data.manifest import manifest_split

    for dataset, prefix, crops in (("xd_violence", "XD", 5), ("ucf_crime", "UCF", 10)):
        for split, name in (("train", "Train"), ("test", "Test")):
            path = require(WU / f"{prefix}_{name}.list")
            videos = collapse_crop_list(path.read_text().splitlines(), path)
            assert {len(c) for _, c in videos} == {crops}
            assert [v for v, _ in videos] == [e.name for e in manifest_split(dataset, split)]


def test_per_crop_files_load_bit_identical_to_the_stacked_file(tmp_path):
    rng = np.random.default_rng(0)
    feat = rng.random((45, 3, 8), dtype=np.float32)
    np.save(tmp_path / "v_i3d.npy", feat)
    crops = []
    for c in range(3):
        np.save(tmp_path / f"v__{c}.npy", np.ascontiguousarray(feat[:, c]))
        crops.append(tmp_path / f"v__{c}.npy")
    assert np.array_equal(load_features(crops), load_features(tmp_path / "v_i3d.npy"))
    assert np.array_equal(load_segments(crops, 32), load_segments(tmp_path / "v_i3d.npy", 32))
    bad = feat[:, 1].copy()
    bad[7, 2] = np.nan
    np.save(crops[1], bad)
    with pytest.raises(FeatureFileError, match=r"v__1\.npy: contains NaN/Inf \(first at index \(7, 2\)\)"):
        load_features(crops)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    """One synthetic set written in the stacked and in both per-crop layouts (the same numbers)."""
    base = tmp_path_factory.mktemp("layouts")
    return {lay: write_synthetic_mil(base / lay, SyntheticMILConfig(layout=lay, **SMALL))
            for lay in ("ucf_crime", "ucf_crime_per_crop", "xd_violence")}


def _dm(root, layout="per_crop", dataset="ucf_crime", **kw):
    return MILFeatureDataModule(dataset=dataset, root=str(root), feature_layout=layout, batch_size=2, **kw)


def test_per_crop_and_stacked_layouts_give_the_same_batches(layouts):
    stacked = _dm(layouts["ucf_crime"], "stacked", crops=3)
    per_crop = _dm(layouts["ucf_crime_per_crop"], crops=3)
    for dm in (stacked, per_crop):
        dm.setup("fit")
    assert [v.name for v in stacked.splits["test"]] == [v.name for v in per_crop.splits["test"]]
    assert per_crop.data_source == "synthetic" and len(per_crop.splits["test"][0].crop_paths) == 3
    a, b = next(iter(stacked.train_dataloader())), next(iter(per_crop.train_dataloader()))
    assert torch.equal(a.features, b.features) and a.features.shape[2:] == (3, 8)
    for x, y in zip(stacked.test_dataloader(), per_crop.test_dataloader()):
        assert torch.equal(x.features, y.features) and torch.equal(x.frame_labels, y.frame_labels)


def test_xd_layout_labels_from_label_a_and_crops_discovered(layouts):
    dm = _dm(layouts["xd_violence"], dataset="xd_violence")   # crops=None: as many as there are
    dm.setup("test")
    test = dm.splits["test"]
    assert [v.label for v in test] == [0 if "_label_A" in v.name else 1 for v in test] and sum(v.label for v in test) == 2
    assert next(iter(dm.test_dataloader())).features.shape[2] == 3


def test_single_view_reads_t_d_files_and_refuses_stacked_ones(tmp_path, layouts):
    root = tmp_path / "sv"
    (root / "f").mkdir(parents=True)
    for name in ("train", "test"):
        (root / f"{name}.list").write_text((layouts["ucf_crime"] / f"{name}.list").read_text())
    for f in (layouts["ucf_crime"] / "features").rglob("*_i3d.npy"):
        np.save(root / "f" / f.name, np.load(f)[:, 0])
    ann = "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    (root / ann).write_text((layouts["ucf_crime"] / ann).read_text())
    dm = _dm(root, "single_view", annotations=str(root / ann), train_list=str(root / "train.list"),
             test_list=str(root / "test.list"))
    dm.setup("test")
    assert next(iter(dm.test_dataloader())).features.shape[2:] == (1, 8)
    with pytest.raises(FeatureFileError, match=r"_i3d\.npy: expected shape \[T, D\] \(single_view layout\)"):
        _dm(layouts["ucf_crime"], "single_view").setup("test")
    with pytest.raises(ConfigError, match="crops = 3 with feature_layout single_view"):
        _dm(root, "single_view", crops=3)


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def _crop(root, split_dir, index=0, crop=1):
    return sorted((root / "features" / split_dir).rglob(f"*__{crop}.npy"))[index]


@pytest.mark.parametrize("case", ["missing", "other_t", "other_dim", "extra", "three_d"])
def test_bad_per_crop_inputs_are_one_error_naming_the_file(case, layouts, tmp_path):
    root = _copy(layouts["xd_violence"], tmp_path / "xd")
    bad = _crop(root, "test")
    arr = np.load(bad)
    expected = {
        "missing": (lambda: bad.unlink(), rf"crop file {bad.name} not found under"),
        "other_t": (lambda: np.save(bad, arr[:-2]), rf"crop file {bad}: T = {len(arr) - 2} snippets but crop 0"),
        "other_dim": (lambda: np.save(bad, np.zeros((len(arr), 5), np.float32)),
                      rf"{bad}: feature dim 5 but the config expects 8"),
        "extra": (lambda: np.save(bad.with_name(bad.name.replace("__1", "__3")), arr),
                  r"__3\.npy is beyond the 3 crops expected"),
        "three_d": (lambda: np.save(bad, arr[:, None]), rf"crop file {bad}: expected shape \[T, D\]"),
    }[case]
    expected[0]()
    dm = _dm(root, dataset="xd_violence", crops=3, feature_dim=8)
    with pytest.raises(FeatureFileError, match=expected[1]):
        dm.setup("fit")


def test_crop_count_mismatches_are_config_errors(layouts, tmp_path):
    with pytest.raises(ConfigError, match=r"\.list lists 3 crop files per video but data\.init_args\.crops = 5"):
        _dm(layouts["xd_violence"], dataset="xd_violence", crops=5).setup("test")
    with pytest.raises(DataError, match="lists per-crop feature files .*feature_layout is stacked; set it to per_crop"):
        _dm(layouts["xd_violence"], "stacked", dataset="xd_violence").setup("test")
    with pytest.raises(FeatureFileError, match=r"3 crops \(shape \[\d+, 3, 8\]\) but data\.init_args\.crops = 10"):
        _dm(layouts["ucf_crime"], "stacked", crops=10).setup("test")
    with pytest.raises(ConfigError, match="unknown layout 'percrop'"):
        _dm(layouts["ucf_crime"], "percrop")
