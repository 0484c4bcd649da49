import numpy as np
import pytest
import torch

from vadbench.data.mil import MILFeatureDataModule
from vadbench.data.mil.annotations import GroundTruthError
from vadbench.data.mil.features import FeatureFileError


def test_synthetic_layout_loads_through_foreign_paths(tiny_synthetic_mil):
    lines = (tiny_synthetic_mil / "test.list").read_text().splitlines()
    assert lines[0].startswith("G:\\")  # another machine's path, resolved by file name
    dm = MILFeatureDataModule(root=str(tiny_synthetic_mil), batch_size=4, synthetic={"feature_dim": 64})
    dm.setup()
    assert dm.feature_dim == 64 and len(dm.splits["train"]) == 48 and len(dm.splits["test"]) == 16
    assert {v.label for v in dm.splits["test"] if v.name.startswith("Normal")} == {0}
    batch = next(iter(dm.train_dataloader()))
    assert batch.features.shape == (8, 32, 2, 64)
    assert batch.labels.tolist() == [0] * 4 + [1] * 4
    test = list(dm.test_dataloader())
    assert len(test) == 16
    assert all(b.frame_labels.shape[1] == 16 * b.features.shape[1] for b in test)
    assert sum(int(b.frame_labels.sum() > 0) for b in test) == 8
    assert dm.fingerprint.startswith("sha256:")


def test_training_pairs_are_deterministic_and_change_each_epoch(tiny_synthetic_mil):
    def first_batches(epoch):
        dm = MILFeatureDataModule(root=str(tiny_synthetic_mil), batch_size=4, synthetic={"feature_dim": 64})
        dm.setup()
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(epoch)
        return [b.features for b in loader]

    a, b, c = first_batches(0), first_batches(0), first_batches(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_validation_split_is_carved_from_training(tiny_synthetic_mil):
    dm = MILFeatureDataModule(root=str(tiny_synthetic_mil), validation="train_split", val_fraction=0.25,
                              synthetic={"feature_dim": 64})
    dm.setup()
    val, train = {v.name for v in dm.splits["val"]}, {v.name for v in dm.splits["train"]}
    assert len(val) == 12 and not (val & train) and len(val | train) == 48
    assert dm.model_selection == "best_val"
    assert MILFeatureDataModule(validation="oracle_test").model_selection == "oracle_best_on_test"


def _copy_dataset(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_missing_and_bad_files_are_reported_by_name(tiny_synthetic_mil, tmp_path):
    root = _copy_dataset(tiny_synthetic_mil, tmp_path / "d")
    victim = next((root / "features" / "test").glob("Normal*"))
    victim.unlink()
    wrong = next((root / "features" / "train").glob("Abuse*"))
    np.save(wrong, np.ones((5, 2, 31), np.float32))
    dm = MILFeatureDataModule(root=str(root), feature_dim=64)
    with pytest.raises(FeatureFileError) as err:
        dm.setup()
    assert wrong.name in str(err.value) and "feature dim 31" in str(err.value)
    dm = MILFeatureDataModule(root=str(root), feature_dim=64, train_list=str(root / "test.list"))
    with pytest.raises(FeatureFileError, match=f"{victim.name} not found under"):
        dm.setup()


def test_annotation_beyond_video_is_an_error(tiny_synthetic_mil, tmp_path):
    root = _copy_dataset(tiny_synthetic_mil, tmp_path / "d")
    ann = root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    lines = ann.read_text().splitlines()
    name = lines[0].split()[0]
    lines[0] = f"{name}  Abuse  10  99999  -1  -1"
    ann.write_text("\n".join(lines) + "\n")
    dm = MILFeatureDataModule(root=str(root), feature_dim=64)
    with pytest.raises(GroundTruthError, match=f"video {name.removesuffix('.mp4')}: annotated frames"):
        dm.setup()


def test_real_dataset_needs_a_root():
    with pytest.raises(ValueError, match="no data root: set --data.init_args.root"):
        MILFeatureDataModule(dataset="ucf_crime").root_dir
    with pytest.raises(ValueError, match="unknown MIL dataset"):
        MILFeatureDataModule(dataset="ucf")


def test_loader_options_workers_and_pinned_batches(tiny_synthetic_mil):
    dm = MILFeatureDataModule(root=str(tiny_synthetic_mil), batch_size=4, num_workers=1, pin_memory=False,
                              synthetic={"feature_dim": 64})
    dm.setup()
    loader = dm.train_dataloader()
    assert loader.num_workers == 1 and not loader.pin_memory and not loader.persistent_workers
    test = dm.test_dataloader()
    assert test.num_workers == 1 and test.persistent_workers
    one_process = MILFeatureDataModule(root=str(tiny_synthetic_mil), batch_size=4, synthetic={"feature_dim": 64})
    one_process.setup()
    assert not one_process.train_dataloader().pin_memory  # auto: no CUDA trainer attached
    # a worker gives the same batches as the main process
    assert all(torch.equal(a.features, b.features) for a, b in zip(loader, one_process.train_dataloader()))
    batch = next(iter(one_process.train_dataloader()))
    if torch.cuda.is_available():
        pinned = batch.pin_memory()
        assert pinned.features.is_pinned() and torch.equal(pinned.features, batch.features)


def test_frame_scoring_uses_the_sidecars_snippet_stride_not_the_snippet_length(tiny_synthetic_mil, tmp_path):
    """Issue #20: features of 16-frame snippets taken every 8 frames (`vadbench extract --snippet-len 16
    --stride 8`): one snippet score stands for the 8 frames between snippet starts, so frame labels and
    frame scores are built at 8 frames per snippet. The metrics equal a recompute from the annotation
    file at 8 (reading the snippet length, 16, gives another frame count and AUC)."""
    import json

    from sklearn.metrics import roc_auc_score

    from vadbench.models.mil_base import MILAnomalyModule

    root = _copy_dataset(tiny_synthetic_mil, tmp_path / "d")
    for f in root.rglob("*_i3d.npy"):   # sidecars of an overlapping extraction
        settings = {"backbone": "i3d_r50", "weights": "w", "snippet_len": 16, "stride": 8, "feature_dim": 64}
        (f.parent / (f.name + ".json")).write_text(json.dumps({"settings": settings,
                                                               "video": {"shape": list(np.load(f, mmap_mode="r").shape)}}))
    truth = root / "Temporal_Anomaly_Annotation_for_Testing_Videos.txt"
    rows = [l.split() for l in truth.read_text().splitlines()]   # intervals halved: the videos hold 8·T frames
    rows = [r[:2] + [str(max(1, int(x) // 2)) if int(x) > 0 else x for x in r[2:]] for r in rows]
    truth.write_text("".join(" ".join(r) + "\n" for r in rows))

    class MeanScore(MILAnomalyModule):
        def snippet_scores(self, batch):
            return batch.features.mean(dim=(2, 3)).sigmoid()

    dm = MILFeatureDataModule(root=str(root), feature_dim=64)
    dm.setup("test")
    module = MeanScore(net=torch.nn.Identity(), loss=torch.nn.Identity(), optimizer=torch.optim.SGD)
    for i, batch in enumerate(dm.test_dataloader()):
        module.test_step(batch, i)
    got = module.test_metrics.compute()

    scores, labels = [], []   # independent: the annotation file's 1-based inclusive frames, 8 per snippet
    intervals = {r[0].removesuffix(".mp4"): [(int(a), int(b)) for a, b in zip(r[2::2], r[3::2]) if int(a) > 0]
                 for r in rows}
    for v in dm.splits["test"]:
        feats = np.load(v.path)
        frame_labels = np.zeros(8 * feats.shape[0], np.int64)
        for a, b in intervals.get(v.name, []):
            frame_labels[a - 1:b] = 1
        labels.append(frame_labels)
        scores.append(np.repeat(torch.from_numpy(feats).mean(dim=(1, 2)).sigmoid().numpy(), 8))
    assert dm.frames_per_snippet == 8 and module.frames_per_snippet == 8
    assert got["num_frames"] == sum(len(l) for l in labels) == 8 * sum(v.num_snippets for v in dm.splits["test"])
    assert got["frame_auc_micro"] == pytest.approx(roc_auc_score(np.concatenate(labels), np.concatenate(scores)),
                                                   abs=1e-6)
