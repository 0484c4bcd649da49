"""SSRL in the official recipe against the official code (tests/golden/data).

Stage 1 (clip only) and stage 4 (clip + 2x3 + 3x5 + 4x7, `mpa_conv=official`): eval scores,
magnitudes, top-k and the test path; the stage-4 training step (earlier stages frozen with their
BatchNorms in eval mode, only the 4x7 branch trains): every loss term and the gradients. Stage 4
has 192M parameters in float64, so its tests are slow.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.golden.official import (SSRL_SCALES, check_topk_forward, feature_file, load, load_official, official_state,
                                   rel_err, ssrl_key_map)
from vadbench.models.rtfm.loss import RTFMLoss
from vadbench.models.rtfm.torch_model import gather_snippets
from vadbench.models.components.staging import frozen_submodules
from vadbench.models.ssrl.torch_model import SSRLModel

TOL = 1e-9
PATCHES = {"patch23": 6, "patch35": 15, "patch47": 28}
OFFICIAL_LOSS = dict(magnitude_loss="squared", classification="topk_mean", sparsity="l2", smooth_across_videos=True)


@pytest.fixture(scope="module")
def forward_fixture():
    return load("ssrl_official_forward")


def inputs(meta, scales, t=32, keys=None):
    keys = keys or meta["normal_video_keys"] + meta["abnormal_video_keys"]
    clip = torch.from_numpy(np.stack([feature_file(k, t, 10) for k in keys])).double()
    patches = {s: torch.from_numpy(np.stack([feature_file(f"{k}/{s}", t, PATCHES[s], s=0.1) for k in keys])).double()
               for s in scales}
    return clip, patches


def build(stage: int, **kwargs) -> tuple[SSRLModel, dict[str, str]]:
    scales = SSRL_SCALES[:stage - 1]
    # p = 0 for every dropout, as in the fixtures; the official 4x7 dropout is mpa_dropout={"patch47": 0.7}
    model = SSRLModel(dropout=0.0, exclusion_rate=0.0, attention_norm="count", patch_scales=scales,
                      mpa_conv="official", mpa_dropout={"patch47": 0.0}, **kwargs)
    names = load_official(model, official_state(f"ssrl_stage{stage}_official"), ssrl_key_map(len(scales)))
    return model, names


def check_eval(model, meta, arrays, prefix, scales):
    clip, patches = inputs(meta, scales)
    test_clip, test_patches = inputs(meta, scales, t=meta["test_T"], keys=[meta["test_video_key"]])
    model.eval()
    with torch.no_grad():
        out = model(clip, patches=patches)
        idx = model.topk(out)
        test = model(test_clip, patches=test_patches)
    check_topk_forward(out, idx, arrays, f"{prefix}_eval", TOL)
    top = gather_snippets(out.scores, idx).mean(1)
    assert rel_err(top[:2], arrays[f"{prefix}_eval_score_normal_f64"]) < TOL
    assert rel_err(top[2:], arrays[f"{prefix}_eval_score_abnormal_f64"]) < TOL
    meanfeat = gather_snippets(out.features, idx).mean(2).norm(dim=-1)
    assert rel_err(meanfeat[:2], arrays[f"{prefix}_eval_topk_meanfeat_norm_normal_f64"]) < TOL
    assert rel_err(meanfeat[2:], arrays[f"{prefix}_eval_topk_meanfeat_norm_abnormal_f64"]) < TOL
    assert rel_err(test.scores[0], arrays[f"{prefix}_test_scores_f64"]) < TOL
    assert rel_err(test.magnitudes[0], arrays[f"{prefix}_test_magnitudes_f64"]) < TOL


def test_stage1_matches_official(forward_fixture):
    arrays, meta = forward_fixture
    model, _ = build(1)
    check_eval(model, meta, arrays, "stage1", ())


@pytest.fixture(scope="module")
def stage4():
    return build(4)


@pytest.mark.slow
def test_stage4_eval_matches_official(forward_fixture, stage4):
    arrays, meta = forward_fixture
    model, _ = stage4
    check_eval(model, meta, arrays, "stage4", SSRL_SCALES)


@pytest.mark.slow
def test_stage4_paper_geometry_differs_from_official(forward_fixture):
    """`mpa_conv=paper` (stride 2) builds another network: its MPA linear layers have other shapes."""
    from tests.golden.official import rename
    paper = SSRLModel(patch_scales=SSRL_SCALES, mpa_conv="paper")
    official = official_state("ssrl_stage4_official")
    ours = paper.state_dict()
    key = "linear_out.2.weight"
    assert tuple(ours[rename(key, ssrl_key_map(3))].shape) != tuple(official[key].shape)


@pytest.mark.slow
def test_stage4_train_step_matches_official(stage4):
    step, meta = load("ssrl_official_train_step")
    model, names = stage4
    for name, p in model.named_parameters():      # only the new 4x7 branch trains (official main.py)
        p.requires_grad_(name.startswith(("psr.patch47", "mpa.patch47")))
    model.train()
    for sub in frozen_submodules(model):          # earlier stages' BatchNorms in eval mode (official train())
        if isinstance(sub, torch.nn.modules.batchnorm._BatchNorm):
            sub.eval()
    model.zero_grad()
    clip, patches = inputs(meta, SSRL_SCALES)
    out = model(clip, patches=patches)
    idx = model.topk(out)
    terms = RTFMLoss(**OFFICIAL_LOSS)(gather_snippets(out.features, idx), gather_snippets(out.scores, idx),
                                      out.scores, torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64))
    terms["loss"].backward()
    check_topk_forward(out, idx, step, "train", TOL)
    for ours, official in {"classification": "bce", "magnitude": "magnitude", "sparsity": "sparsity",
                           "smoothness": "smooth", "loss": "total"}.items():
        assert rel_err(terms[ours], step[f"loss_{official}_f64"]) < TOL, ours
    params = dict(model.named_parameters())
    trainable = [n for n, p in params.items() if p.requires_grad]
    official_trainable = {names[n] for n in meta["trainable_param_names"]}
    assert official_trainable <= set(trainable)
    # ours also has the biases of the official bias-free convolutions (loaded as zero)
    assert all(n.endswith(("reduce.0.bias", "fuse.0.bias")) for n in set(trainable) - official_trainable)
    for i, name in enumerate(meta["trainable_param_names"]):
        if name.endswith("non_local.W.0.bias"):   # zero up to rounding (precedes a train-mode BatchNorm)
            continue
        assert rel_err(params[names[name]].grad.norm(), step["grad_norms_f64"][i]) < TOL, name
    for name in meta["grad_full"]:
        assert rel_err(params[names[name]].grad, step["grad_" + name.replace(".", "_") + "_f64"]) < TOL, name
