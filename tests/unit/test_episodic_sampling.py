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


def test_margin_rule_is_trxs_when_the_span_is_shorter_than_the_clip():
    """TRX's `video_reader.py`: margins (1 and n - 2 at test, random in training) unless the span
    between them is under T frames (`end - start < T`), then the whole video (issue #20)."""
    assert eval_indices(10, 8).tolist() == [0, 1, 2, 3, 5, 6, 7, 9]   # n - 3 = 7 < 8: the whole video
    assert eval_indices(11, 8).tolist() == [1, 2, 3, 4, 5, 6, 7, 9]   # n - 3 = 8: margins
    assert eval_indices(12, 8).tolist() == [1, 2, 3, 4, 6, 7, 8, 10]

    class LargestMargins:   # the start draw at its largest, the end draw at its smallest
        def integers(self, low, high):
            return high - 1 if low == 0 else low

    assert trx_train_indices(10, 8, LargestMargins()).tolist() == [0, 1, 2, 3, 5, 6, 7, 9]   # span 1..8 < 8
    assert trx_train_indices(20, 8, LargestMargins()).tolist() == [5, 6, 7, 8, 10, 11, 12, 14]   # span 5..14


class _CodedVideo:
    """A fake `VideoReader`: pixel (y, x) of frame t holds (t, y, x) in its three channels, so a clip
    says which frames were read and where each was cut. 20 frames of 41 x 60 after the resize."""

    num_frames, fps, height, width = 20, 10.0, 41, 60

    def __init__(self, path):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def read(self, indices, height=None, min_width=None):
        t, y, x = np.meshgrid(np.asarray(indices), np.arange(self.height), np.arange(self.width), indexing="ij")
        return np.stack([t, y, x], axis=-1).astype(np.uint8)


def test_clip_pipeline_one_crop_and_flip_per_training_clip_centred_crop_at_test(monkeypatch):
    """Issue #20 pins: ONE random crop (and one flip draw) for all frames of a training clip; the centre
    crop `((H - c) // 2, (W - c) // 2)` and the fixed TRX frame indices at test."""
    import vadbench.data.episodic.dataset as dataset_module

    monkeypatch.setattr(dataset_module, "VideoReader", _CodedVideo)
    loader = ClipLoader(seq_len=8, frame_height=41, crop_size=32, mean=(0, 0, 0), std=(1 / 255,) * 3)
    rec = ClipRecord("a/v", "v.avi", 0)
    test = loader(rec, None)                                      # (T, 3, 32, 32) = (t, y, x) codes
    assert test[:, 0, 0, 0].tolist() == eval_indices(20, 8).tolist() == [1, 3, 5, 8, 10, 13, 15, 18]
    assert test[:, 1, :, 0].tolist() == [list(range(4, 36))] * 8    # top (41 - 32) // 2 = 4 (not 5)
    assert test[:, 2, 0, :].tolist() == [list(range(14, 46))] * 8   # left (60 - 32) // 2 = 14
    crops, flips = set(), set()
    for seed in range(12):
        clip = loader(rec, np.random.default_rng(seed))
        top, left = int(clip[0, 1, 0, 0]), int(clip[0, 2, 0, :].min())
        flipped = bool(clip[0, 2, 0, 0] > clip[0, 2, 0, -1])
        for t in range(8):                                        # every frame: the same window and flip
            assert clip[t, 1, :, 0].tolist() == list(range(top, top + 32))
            row = list(range(left, left + 32))
            assert clip[t, 2, 0, :].tolist() == (row[::-1] if flipped else row), (seed, t)
        crops.add((top, left))
        flips.add(flipped)
    assert len(crops) > 6 and flips == {True, False}               # random per clip, not fixed
    rng = np.random.default_rng(3)                                # the draws, in order: frames, top, left, flip
    frames = trx_train_indices(20, 8, rng)
    top, left, flipped = int(rng.integers(0, 10)), int(rng.integers(0, 29)), bool(rng.random() < 0.5)
    clip = loader(rec, np.random.default_rng(3))
    assert clip[:, 0, 0, 0].tolist() == frames.tolist()
    assert (int(clip[0, 1, 0, 0]), int(clip[0, 2, 0, :].min()), bool(clip[0, 2, 0, 0] > clip[0, 2, 0, -1])) == \
        (top, left, flipped)
