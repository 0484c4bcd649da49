"""Episode construction, the datamodule on the synthetic layouts, missing-video reports, DDP splits."""

import json
import logging

import numpy as np
import pytest
import torch

from vadbench.data.episodic import EpisodicVideoDataModule, MissingVideosError
from vadbench.data.episodic.dataset import ClipLoader, ClipRecord, EpisodeDataset
from vadbench.data.episodic.synthetic import SyntheticVideoConfig, write_synthetic_video
from vadbench.data.samplers import EvalDistributedSampler

TINY = dict(size=32, frames=12, videos_per_class=6, train_classes=5, val_classes=2, test_classes=5, ucf_classes=5)
LOADER = dict(seq_len=4, frame_height=32, crop_size=28)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory):
    root = tmp_path_factory.mktemp("fewshot")
    return {layout: write_synthetic_video(root / layout, SyntheticVideoConfig(layout=layout, seed=3, **TINY))
            for layout in ("hmdb51", "kinetics100", "ucf_crime_v2")}


def _fake_clips(classes=8, per_class=7):
    return [ClipRecord(f"c{c}/v{i}", None, c) for c in range(classes) for i in range(per_class)]


def test_episode_sampling_no_overlap_and_deterministic():
    ds = EpisodeDataset(_fake_clips(), way=5, shot=3, query=2, num_episodes=50, seed=7, train=True,
                        loader=None, with_frames=False)
    for i in range(50):
        classes, support, query = ds.sample(i)
        assert len(set(classes.tolist())) == 5
        assert len(support) == 15 and len(query) == 10
        assert not set(support.tolist()) & set(query.tolist())          # no video in both sets
        assert len(set(support.tolist()) | set(query.tolist())) == 25   # all distinct
        clips = ds.clips
        # class-major: the k-th block of K shots / Q queries belongs to the k-th episode class
        assert [clips[v].class_index for v in support] == np.repeat(classes, 3).tolist()
        assert [clips[v].class_index for v in query] == np.repeat(classes, 2).tolist()
    a = [x.tolist() for x in ds.sample(3)]
    assert a == [x.tolist() for x in ds.sample(3)]                        # same index, same episode
    ds.set_epoch(1)
    assert a != [x.tolist() for x in ds.sample(3)]                        # new epoch, new episode
    other = EpisodeDataset(_fake_clips(), 5, 3, 2, 50, seed=8, train=True, loader=None)
    assert a != [x.tolist() for x in other.sample(3)]


def test_episode_needs_enough_classes_with_enough_videos():
    clips = _fake_clips(classes=6, per_class=4) + [ClipRecord("x/big", None, 9)] * 1
    with pytest.raises(ValueError, match="need 5 classes with at least 6 videos"):
        EpisodeDataset(clips, way=5, shot=5, query=1, num_episodes=1, seed=0, train=True, loader=None)
    # classes without enough videos are left out, the rest still make episodes
    clips = _fake_clips(classes=5, per_class=6) + [ClipRecord("x/few", None, 7)]
    ds = EpisodeDataset(clips, way=5, shot=5, query=1, num_episodes=1, seed=0, train=True, loader=None)
    assert 7 not in ds.eligible.tolist()


def test_batch_shapes_labels_and_test_determinism(layouts):
    dm = EpisodicVideoDataModule(dataset="hmdb51", root=str(layouts["hmdb51"]), split_dir=str(layouts["hmdb51"]),
                                 way=3, shot=2, train_query=2, test_query=1, train_episodes=4, test_episodes=6,
                                 num_workers=0, **LOADER)
    dm.setup("fit")
    train = dm.episodes("train")
    b = train[0]
    assert b.support.shape == (6, 4, 3, 28, 28) and b.query.shape == (6, 4, 3, 28, 28)
    assert b.support_labels.tolist() == [0, 0, 1, 1, 2, 2] and b.query_labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert (b.way, b.shot, b.queries_per_class) == (3, 2, 2)
    assert int(b.episode_index) == 0
    assert torch.equal(train[0].support, b.support)            # training episode: deterministic per seed
    test = dm.episodes("test")
    t1, t2 = test[5], test[5]
    assert torch.equal(t1.query, t2.query) and torch.equal(t1.support_ids, t2.support_ids)
    # test clips are fixed per video: the same video gives the same frames in any episode
    v = int(t1.support_ids[0])
    assert torch.equal(test.clip(v), t1.support[0])
    # train and test classes do not overlap (few-shot: novel classes)
    assert not set(dm.class_names["train"]) & set(dm.class_names["test"])
    meta = dm.result_metadata()
    assert meta["dataset"] == "hmdb51" and meta["data_source"] == "real" and meta["model_selection"] == "last"
    assert meta["data_fingerprint"].startswith("sha256:")
    assert meta["extras"]["way"] == 3 and meta["extras"]["shot"] == 2 and meta["extras"]["test_episodes"] == 6


def test_missing_videos_are_reported_and_skipped(layouts, caplog):
    root = layouts["kinetics100"]
    counts = json.loads((root / "synthetic.json").read_text())["counts"]
    dm = EpisodicVideoDataModule(dataset="kinetics100", root=str(root), split_dir=str(root), way=3, shot=1,
                                 test_episodes=4, num_workers=0, **LOADER)
    with caplog.at_level(logging.WARNING, logger="vadbench"):
        dm.setup("fit")
    missing = {s: c["missing"] for s, c in counts.items()}
    assert sum(missing.values()) > 0
    for split in ("train", "test"):
        rep = dm.report[split]
        assert rep["listed"] == counts[split]["listed"]
        assert rep["present"] == rep["listed"] - missing[split]
    assert "not under" in caplog.text
    strict = EpisodicVideoDataModule(dataset="kinetics100", root=str(root), split_dir=str(root),
                                     require_all_videos=True, num_workers=0, **LOADER)
    with pytest.raises(MissingVideosError, match="listed videos"):
        strict.setup("fit")


def test_cross_dataset_ucf_crime_v2_clips(layouts):
    dm = EpisodicVideoDataModule(dataset="kinetics100", root=str(layouts["kinetics100"]),
                                 split_dir=str(layouts["kinetics100"]), test_dataset="ucf_crime_v2",
                                 test_root=str(layouts["ucf_crime_v2"]), test_split_dir=str(layouts["ucf_crime_v2"]),
                                 test_split="all", way=5, shot=1, test_episodes=3, num_workers=0, **LOADER)
    dm.setup("test")
    clips = dm.clips["test"]
    assert len(clips) == 5 * TINY["videos_per_class"] and all(c.segments for c in clips)
    assert any(c.path.suffix == ".MP4" for c in clips)  # mixed extensions are matched
    b = dm.episodes("test")[0]
    assert b.query.shape == (5, 4, 3, 28, 28)
    assert dm.result_metadata()["dataset"] == "ucf_crime_v2"
    assert dm.result_metadata()["extras"]["train_dataset"] == "kinetics100"


def test_test_episodes_split_exactly_across_ranks():
    ds = EpisodeDataset(_fake_clips(), 5, 1, 1, num_episodes=11, seed=0, train=False, loader=None, with_frames=False)
    seen = []
    for rank in range(3):
        sampler = EvalDistributedSampler(ds, num_replicas=3, rank=rank)
        seen += [int(ds[i].episode_index) for i in sampler]
    assert sorted(seen) == list(range(11))


def test_training_ranks_draw_different_episodes(layouts):
    from vadbench.data.samplers import EpochForwardingSampler

    ds = EpisodeDataset(_fake_clips(), 5, 1, 1, num_episodes=8, seed=0, train=True, loader=None, with_frames=False)
    r0 = [ds.sample(i)[1].tolist() for i in EpochForwardingSampler(ds, 2, 0)]
    r1 = [ds.sample(i)[1].tolist() for i in EpochForwardingSampler(ds, 2, 1)]
    assert len(r0) == len(r1) == 4 and not any(a == b for a in r0 for b in r1)


def test_synthetic_dataset_is_generated_on_demand(tmp_path):
    dm = EpisodicVideoDataModule(dataset="synthetic", root=str(tmp_path / "gen"), way=3, shot=1, test_episodes=2,
                                 num_workers=0, synthetic=dict(layout="ucf_crime_v2", **TINY), **LOADER)
    dm.prepare_data()
    dm.setup("test")
    assert (tmp_path / "gen" / "synthetic.json").is_file()
    assert dm.result_metadata()["data_source"] == "synthetic" and dm.result_metadata()["dataset"] == "synthetic"
    assert dm.episodes("test")[1].support.shape == (3, 4, 3, 28, 28)


def test_unknown_dataset_and_missing_root_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown few-shot dataset"):
        EpisodicVideoDataModule(dataset="ssv2")
    dm = EpisodicVideoDataModule(dataset="hmdb51")
    with pytest.raises(ValueError, match="no data root: set --data.init_args.root"):
        dm.setup("fit")
    dm = EpisodicVideoDataModule(dataset="hmdb51", root=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        dm.prepare_data()


def test_static_distractors_sit_in_the_other_quadrants_and_default_is_unchanged():
    from vadbench.data.episodic.synthetic import render_video

    def video(**kw):
        return render_video("disk", "right", 6, 64, np.random.default_rng(5), noise=0.0, object_scale=0.5,
                            corner_offset=0.3, **kw)

    plain, with_three = video(), video(distractors=3)
    assert np.array_equal(plain, video(distractors=0))          # older datasets stay byte-identical
    changed = np.abs(with_three.astype(int) - plain.astype(int)).sum(-1) > 0   # (T, H, W)
    assert changed.any()
    assert np.array_equal(changed[0], changed[-1]) or (changed[0] & changed[-1]).sum() > 0.5 * changed[0].sum()
    quadrants = {(int(y >= 32), int(x >= 32)) for y, x in zip(*np.nonzero(changed[0]))}
    assert len(quadrants) == 3                                   # one distractor per free quadrant
    with pytest.raises(ValueError, match="distractors must be 0-3"):
        video(distractors=4)
