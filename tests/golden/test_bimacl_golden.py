"""The BiMACL head against the official code (tests/golden/data/bimacl_official_head.npz): motion attention
(TDSAM) on per-frame 7x7 feature maps (D = 32), TRX cross-transformers and the CTRX distance head with the
official cardinalities [2, 3], P = 16; a 5-way 1-shot episode (5 queries per class) and a 5-way 5-shot episode
(2 queries per class), support and queries shuffled. Training mode (BatchNorm batch statistics, every dropout
p = 0): logits of each part, the motion-attention output, every loss term, the BatchNorm running statistics
after the step and the full gradients of the official task loss (TRX CE + 0.05 contrast CE) / 16; eval mode
(running statistics): the logits. All float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from tests.golden.official import bimacl_feature_maps, bimacl_key_map, load, load_official, official_state, rel_err
from vadbench.models.bimacl.loss import BiMACLLoss
from vadbench.models.bimacl.torch_model import BiMACLModel, MotionAttention, TupleContrast
from vadbench.models.trx.torch_model import TRXHeadConfig

EPISODES = ("5way_1shot_5q", "5way_5shot_2q")
DIM, PROJ = 32, 16
TOL = 1e-6
# gradients that are zero up to rounding in exact arithmetic: a query's attention weights sum to one (TRX value
# bias cancels in query - prototype)
ZERO_GRADS = ("v_linear.bias",)


def build() -> tuple[BiMACLModel, nn.Module, dict[str, str]]:
    """Our model in its official setting, the ResNet replaced by an identity, D = 32, the formula weights, every
    dropout p = 0 (as the fixture), training mode."""
    head_cfg = TRXHeadConfig(seq_len=8, cardinalities=(2, 3), proj_dim=PROJ)
    model = BiMACLModel("resnet_tiny", head=head_cfg, train_contrast_projection=True)   # to compare its gradients
    model.backbone = nn.Identity()        # the fixture feeds feature maps
    model.feature_dim = DIM
    model.motion = MotionAttention(DIM, 8)
    model.transformers = head_cfg.transformers(feature_dim=DIM)
    model.contrast = nn.ModuleList(TupleContrast(DIM, 8, c, PROJ) for c in (2, 3))
    head = nn.Module()
    for part in ("motion", "transformers", "contrast"):
        setattr(head, part, getattr(model, part))
    state = official_state("bimacl_head_official", seed="golden-bimacl-v1")
    names = load_official(head, state, bimacl_key_map(2),
                          unused_official=tuple(f"transformers.{i}.norm_v" for i in range(2)))   # never used
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    model.double().train()
    return model, head, names


@pytest.fixture(scope="module")
def golden():
    return load("bimacl_official_head")


def episode(arrays, meta, name):
    info = meta["episodes"][name]
    maps = lambda keys: torch.from_numpy(np.stack([bimacl_feature_maps(name, k) for k in keys])).double()  # noqa: E731
    return (maps(info["support_video_keys"]), torch.from_numpy(arrays[f"{name}_support_labels"]).long(),
            maps(info["query_video_keys"]), torch.from_numpy(arrays[f"{name}_query_labels"]).long(), info["way"])


@pytest.mark.parametrize("name", EPISODES)
def test_training_step_matches_official(golden, name):
    arrays, meta = golden
    model, head, names = build()
    support, support_labels, query, query_labels, way = episode(arrays, meta, name)
    ref = lambda key: arrays[f"{name}_{key}_f64"]   # noqa: E731
    motion_out = []
    model.motion.register_forward_hook(lambda mod, inp, out: motion_out.append(out.detach()))
    model.zero_grad()
    out = model(support, support_labels, query, way)
    assert rel_err(out.frame_logits, ref("logits")) < TOL
    assert rel_err(out.max_distance, ref("logits_max")) < TOL
    assert rel_err(out.contrast_logits, ref("logits_contrast")) < TOL
    assert rel_err(model.logits(out), ref("logits_combined")) < TOL
    # the motion attention's output, averaged over the map (the fixture's support order is the shuffled one)
    order = torch.argsort(support_labels, stable=True)
    s_frames, q_frames = motion_out[0].mean(dim=(-2, -1)), motion_out[1].mean(dim=(-2, -1))
    assert rel_err(s_frames, ref("support_motion_pooled")[order.numpy()]) < TOL
    assert rel_err(q_frames, ref("query_motion_pooled")) < TOL
    first = int(torch.nonzero(order == 0)[0, 0])    # where the first fed support video went
    assert rel_err(motion_out[0][first], ref("support_motion_map")) < TOL
    # BatchNorm running statistics after the step (support batch, then query batch; each direction its own)
    state = head.state_dict()
    for official, ours in names.items():
        if official.endswith(("running_mean", "running_var")):
            assert rel_err(state[ours], arrays[f"{name}_bn_after_" + official.replace(".", "_") + "_f64"]) < TOL
    with torch.no_grad():   # each cardinality alone
        for i, c in enumerate((2, 3)):
            assert rel_err(model.transformers[i](s_frames, q_frames, way), ref(f"logits_card{c}")) < TOL
            ctrx = model.contrast[i]
            maximum, contrast = ctrx(ctrx.embed(s_frames), ctrx.embed(q_frames), way)
            assert rel_err(maximum, ref(f"logits_max_card{c}")) < TOL
            assert rel_err(contrast, ref(f"logits_contrast_card{c}")) < TOL
    loss, terms = BiMACLLoss(contrast_weight=0.05)(out, query_labels)
    # the official loss() holds the per-query log-probabilities in float32: its values carry float32 rounding
    assert rel_err(terms["loss_frame"], ref("loss_sum_trx")) < TOL
    assert rel_err(terms["loss_contrast"], ref("loss_sum_ctrx")) < TOL
    assert rel_err(loss / 16, ref("task_loss")) < TOL
    accuracy = (model.logits(out).argmax(-1) == query_labels).double().mean()
    assert abs(float(accuracy) - float(ref("accuracy"))) < 1e-6
    (loss / 16).backward()
    params = dict(head.named_parameters())
    checked = 0
    for i, official in enumerate(meta["episodes"][name]["param_names"]):
        if official not in names or official.endswith(ZERO_GRADS):
            continue
        grad = params[names[official]].grad
        assert rel_err(grad.norm(), ref("grad_norms")[i]) < TOL, official
        assert rel_err(grad, arrays[f"{name}_grad_" + official.replace(".", "_") + "_f64"]) < TOL, official
        checked += 1
    assert checked == 27   # every parameter but the unused norm_v and the zero v_linear biases


@pytest.mark.parametrize("name", EPISODES)
def test_eval_logits_match_official(golden, name):
    """Eval mode: BatchNorm running statistics (the formula's), the official test-time logits."""
    arrays, meta = golden
    model, _, _ = build()
    model.eval()
    support, support_labels, query, _, way = episode(arrays, meta, name)
    ref = lambda key: arrays[f"{name}_{key}_f64"]   # noqa: E731
    with torch.no_grad():
        out = model(support, support_labels, query, way)
        cached = model.forward_projected(model.project(support), support_labels, model.project(query), way)
    assert rel_err(out.frame_logits, ref("eval_logits")) < TOL
    assert rel_err(out.max_distance, ref("eval_logits_max")) < TOL
    assert rel_err(out.contrast_logits, ref("eval_logits_contrast")) < TOL
    assert rel_err(model.logits(out), ref("eval_logits_combined")) < TOL
    # the evaluation cache's path (`project` per video, `forward_projected` per episode) gives the same prediction
    assert rel_err(model.logits(cached), ref("eval_logits_combined")) < TOL
