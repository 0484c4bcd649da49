"""Frame sampling, seeking video reads, clip cutting and the clip transform."""

import numpy as np
import pytest
import torch

from vadbench.data.episodic.dataset import ClipLoader, ClipRecord
from vadbench.data.episodic.sampling import (clip_timeline, sample_indices, segment_train_indices, eval_indices,
                                             trx_train_indices)
from vadbench.data.episodic.synthetic import render_video, write_video
from vadbench.data.episodic.video import VideoReader, VideoReadError


def test_eval_indices_are_fixed_linspace_between_1_and_n_minus_2():
    assert eval_indices(100, 8).tolist() == np.linspace(1, 98, 8).astype(int).tolist()
    assert eval_indices(100, 8)[0] == 1 and eval_indices(100, 8)[-1] == 98
    assert eval_indices(9, 8).tolist() == [0, 1, 2, 3, 4, 5, 6, 8]  # no margin: linspace(0, n - 1)
    assert eval_indices(4, 8).tolist() == [0, 0, 0, 1, 1, 2, 2, 3]  # short video repeats frames
    with pytest.raises(ValueError):
        eval_indices(0, 8)


def test_trx_train_indices_margins_and_spacing():
    rng = np.random.default_rng(0)
    starts, ends = set(), set()
    for _ in range(300):
        idx = trx_train_indices(100, 8, rng)
        assert len(idx) == 8 and np.all(np.diff(idx) > 0)
        assert 0 <= idx[0] <= 5 and 94 <= idx[-1] <= 99  # margin min(5, excess / 2) = 5
        starts.add(int(idx[0]))
        ends.add(int(idx[-1]))
    assert starts == set(range(6)) and ends == set(range(94, 100))
    # excess 3 -> margin int(1.5) = 1
    for _ in range(50):
        idx = trx_train_indices(11, 8, rng)
        assert idx[0] in (0, 1) and idx[-1] in (9, 10)


def test_segment_sampling_one_frame_per_segment():
    rng = np.random.default_rng(1)
    for _ in range(50):
        idx = segment_train_indices(80, 8, rng)
        assert np.all(idx // 10 == np.arange(8))
    assert sample_indices(80, 8, None, "segment").tolist() == eval_indices(80, 8).tolist()
    with pytest.raises(ValueError, match="unknown frame sampling"):
        sample_indices(80, 8, rng, "bogus")


def test_clip_timeline_from_seconds():
    # 10 fps, 100 frames: [2, 4) s -> frames 20..39, [7, 7] s -> its first second 70..79
    tl = clip_timeline([(2, 4), (7, 7)], 10.0, 100)
    assert tl.tolist() == list(range(20, 40)) + list(range(70, 80))
    assert clip_timeline([(5, 3)], 10.0, 100).tolist() == list(range(30, 50))  # reversed ends swapped
    assert clip_timeline([], 10.0, 12).tolist() == list(range(12))              # no segment: whole video
    assert clip_timeline([(50, 60)], 10.0, 100).tolist() == list(range(100))    # outside: whole video
    assert clip_timeline([(9, 20)], 10.0, 100).tolist() == list(range(90, 100))  # clipped to the end


@pytest.fixture(scope="module")
def index_video(tmp_path_factory):
    """A 40-frame video whose frames differ (a bar at a position given by the frame number)."""
    frames = np.zeros((40, 48, 64, 3), np.uint8)
    for t in range(40):
        frames[t, :, t:t + 8] = 255
    path = tmp_path_factory.mktemp("vid") / "index.mp4"
    write_video(path, frames, 10)
    return path


def test_reader_seeks_to_the_same_frames_as_sequential_decoding(index_video):
    import av

    with av.open(str(index_video)) as c:
        sequential = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    with VideoReader(index_video) as reader:
        assert reader.num_frames == 40 and reader.fps == 10.0
        wanted = [37, 0, 5, 5, 20, 39, 12]
        got = reader.read(wanted)
        assert got.shape == (7, 48, 64, 3)
        for g, i in zip(got, wanted):
            np.testing.assert_array_equal(g, sequential[i])
        # past the end (header over-estimates happen): the last frame
        np.testing.assert_array_equal(reader.read([60])[0], sequential[-1])
        assert reader.read([3], height=24).shape == (1, 24, 32, 3)


def test_reader_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(VideoReadError, match="broken.mp4"):
        VideoReader(bad)
    with pytest.raises(VideoReadError, match="absent.mp4"):
        VideoReader(tmp_path / "absent.mp4")


def test_clip_loader_train_crop_is_shared_and_test_is_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    frames = render_video("square", "right", 20, 64, rng)
    path = tmp_path / "v.avi"
    write_video(path, frames, 8)
    loader = ClipLoader(seq_len=8, frame_height=48, crop_size=40)
    rec = ClipRecord("a/v", path, 0)
    a, b = loader(rec, None), loader(rec, None)
    assert a.shape == (8, 3, 40, 40) and torch.equal(a, b)
    assert abs(float(a.mean())) < 3  # normalised
    clips = [loader(rec, np.random.default_rng(s)) for s in range(6)]
    assert all(c.shape == (8, 3, 40, 40) for c in clips)
    assert not all(torch.equal(clips[0], c) for c in clips[1:])
    same = loader(rec, np.random.default_rng(3))
    assert torch.equal(same, clips[3])  # deterministic from the rng


def test_clip_loader_cuts_the_annotated_segment(tmp_path):
    """Object visible only in seconds [2, 3) of a 5 s video: test clips from that segment all show it."""
    rng = np.random.default_rng(0)
    visible = np.zeros(40, bool)
    visible[16:24] = True
    frames = render_video("square", "right", 40, 64, rng, noise=5.0, visible=visible)
    path = tmp_path / "Cls001_x264.MP4"
    write_video(path, frames, 8)
    loader = ClipLoader(seq_len=4, frame_height=64, crop_size=64, mean=(0, 0, 0), std=(1 / 255,) * 3)
    with_segment = loader(ClipRecord("Cls/Cls001_x264.MP4", path, 0, ((2.0, 3.0),)), None)
    whole = loader(ClipRecord("Cls/Cls001_x264.MP4", path, 0), None)
    bright = lambda clip: (clip.amax(dim=1) > 160).flatten(1).any(dim=1)  # noqa: E731
    assert bright(with_segment).all()
    assert not bright(whole).all()
