import numpy as np
import pytest

from vadbench.data.mil.features import FeatureFileError, load_features, read_header, reduce_to_segments


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
