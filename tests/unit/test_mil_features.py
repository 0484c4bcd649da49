import numpy as np
import pytest

from vadbench.data.mil.features import (FeatureFileError, load_features, load_segments, read_header,
                                        reduce_to_segments)


def naive_reduce(feat, s=32):
    r = np.linspace(0, len(feat), s + 1).astype(int)
    out = []
    for i in range(s):
        out.append(feat[r[i]:r[i + 1]].mean(0) if r[i] != r[i + 1] else feat[r[i]])
    return np.stack(out)


@pytest.mark.parametrize("t", [1, 5, 31, 32, 33, 100, 317])
def test_reduce_matches_official_rule(t):
    feat = np.random.default_rng(t).standard_normal((t, 3, 8)).astype(np.float32)
    np.testing.assert_allclose(reduce_to_segments(feat, 32), naive_reduce(feat), rtol=1e-5, atol=1e-5)


def official_process_feat_per_crop(feat, length=32):
    """The official RTFM loading, transcribed: per crop, `process_feat` (float32 np.mean per segment)."""
    crops = []
    for f in feat.transpose(1, 0, 2):
        new = np.zeros((length, f.shape[1]), dtype=np.float32)
        r = np.linspace(0, len(f), length + 1).astype(int)
        for i in range(length):
            new[i] = np.mean(f[r[i]:r[i + 1]], 0) if r[i] != r[i + 1] else f[r[i]]
        crops.append(new)
    return np.array(crops, dtype=np.float32).transpose(1, 0, 2)


@pytest.mark.parametrize("t", [1, 5, 31, 32, 33, 100, 251, 1000])
def test_reduce_is_bit_identical_to_official_loading(t):
    feat = (np.random.default_rng(t).standard_normal((t, 10, 24)) * 3 + 1).astype(np.float32)
    out = reduce_to_segments(feat, 32)
    assert out.dtype == np.float32 and out.shape == (32, 10, 24)
    assert np.array_equal(out, official_process_feat_per_crop(feat))  # exact, not allclose


def test_reduce_boundaries_floor_linspace():
    """T = 40: r = floor(1.25 i) = 0, 1, 2, 3, 5, 6, 7, 8, 10, ... (rounding would give 0, 1, 2, 4, 5, 6, 8, 9)."""
    out = reduce_to_segments(np.arange(40, dtype=np.float32)[:, None], 32)[:, 0]
    assert out[:8].tolist() == [0, 1, 2, 3.5, 5, 6, 7, 8.5]
    assert out[-1] == 38.5 and len(out) == 32


def test_load_segments_reads_the_memory_map(tmp_path):
    feat = np.random.default_rng(0).standard_normal((77, 10, 8)).astype(np.float32)
    np.save(tmp_path / "a.npy", feat)
    np.save(tmp_path / "flat.npy", feat[:, 0])
    assert np.array_equal(load_segments(tmp_path / "a.npy"), official_process_feat_per_crop(feat))
    assert load_segments(tmp_path / "flat.npy").shape == (32, 1, 8)
    bad = feat.copy()
    bad[40, 3, 5] = np.inf
    np.save(tmp_path / "bad.npy", bad)
    with pytest.raises(FeatureFileError, match=r"bad\.npy: contains NaN/Inf \(first at index \(40, 3, 5\)\)"):
        load_segments(tmp_path / "bad.npy")


def test_reduce_short_video_repeats_snippets():
    feat = np.arange(4, dtype=np.float32)[:, None]
    out = reduce_to_segments(feat, 8)
    assert out[:, 0].tolist() == [0, 0, 1, 1, 2, 2, 3, 3]


def test_header_and_load_errors_name_the_file(tmp_path):
    good = tmp_path / "a_i3d.npy"
    np.save(good, np.ones((7, 10, 16), np.float32))
    head = read_header(good, 16)
    assert (head.num_snippets, head.num_views, head.dim) == (7, 10, 16)
    assert load_features(good).shape == (7, 10, 16)
    flat = tmp_path / "b.npy"
    np.save(flat, np.ones((7, 16), np.float32))
    assert load_features(flat).shape == (7, 1, 16)

    with pytest.raises(FeatureFileError, match="feature dim 16 but the config expects 2048"):
        read_header(good, 2048)
    rank4 = tmp_path / "c.npy"
    np.save(rank4, np.ones((2, 3, 4, 5), np.float32))
    with pytest.raises(FeatureFileError, match=r"c\.npy: expected shape"):
        read_header(rank4)
    nan = tmp_path / "d.npy"
    arr = np.ones((3, 2, 4), np.float32)
    arr[1, 0, 2] = np.nan
    np.save(nan, arr)
    with pytest.raises(FeatureFileError, match=r"d\.npy: contains NaN/Inf \(first at index \(1, 0, 2\)\)"):
        load_features(nan)
    corrupt = tmp_path / "e.npy"
    corrupt.write_bytes(b"not a numpy file")
    with pytest.raises(FeatureFileError, match=r"e\.npy is not a readable"):
        read_header(corrupt)
    with pytest.raises(FeatureFileError, match="not found"):
        read_header(tmp_path / "missing.npy")


def test_a_directory_in_a_feature_files_place_is_named_as_one(tmp_path):
    """Issue #20: a folder named like a feature file (or its sidecar) exists: say what it is, not `not found`."""
    from vadbench.data.mil.validation import read_sidecar

    folder = tmp_path / "Abuse028_x264_i3d.npy"
    folder.mkdir()
    with pytest.raises(FeatureFileError, match=r"Abuse028_x264_i3d\.npy is a directory, not a file") as err:
        read_header(folder)
    assert "not found" not in str(err.value)
    with pytest.raises(FeatureFileError, match=r"missing\.npy not found"):
        read_header(tmp_path / "missing.npy")
    np.save(tmp_path / "a.npy", np.ones((3, 4), np.float32))
    (tmp_path / "a.npy.json").mkdir()
    with pytest.raises(FeatureFileError, match=r"sidecar .*a\.npy\.json is a directory"):
        read_sidecar(tmp_path / "a.npy")
