"""SloshNet against the official code (tests/golden/data/sloshnet_official_head.npz): spatial modulation, the
feature-fusion cell with its architecture weights, the level weights, the short-term motion (CMM) and
long-term transformer modules, and TRX's cross-transformers, on per-level feature maps (C = 8/16/32/64,
16/8/4/2 px) of a 5-way 1-shot episode (5 queries per class, cardinalities [1]) and a 5-way 5-shot episode
(1 query per class, [1, 2]), and a 5-way 1-shot episode with an architecture weight low enough for the
official pruning of operations, support and queries shuffled, in training mode (BatchNorm batch statistics,
support and queries in separate passes, dropout 0), then in eval mode (the running statistics updated by
that step). Logits, loss and the gradient of every parameter, float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.golden.official import (SLOSHNET_CHANNELS, SLOSHNET_SEED, generate, key_table, load, rel_err,
                                   sloshnet_key, sloshnet_stage_maps)
from vadbench.models.sloshnet.torch_model import LongTermTemporal, ShortTermMotion, SloshNetModel, SpatialModulation
from vadbench.models.trx.loss import TRXLoss
from vadbench.models.trx.torch_model import TRXHeadConfig

# the third episode overwrites row 1 of alpha_normal.2 with (6, 0, 0): softmax (0.995, 0.0025, 0.0025), so the
# official MixedOp skips GP2 and Sum on that edge (weights <= 0.01), which the formula alphas never do
EPISODES = {"5way_1shot_5q": (1,), "5way_5shot_1q": (1, 2), "5way_1shot_1q_pruned": (1,)}
DIM, PROJ = SLOSHNET_CHANNELS[-1], 32
TOL = 1e-6
ZERO_GRADS = ("v_linear.bias",)   # a query's attention weights sum to one: the value bias cancels (TRX)


def build(cardinalities: tuple[int, ...]) -> tuple[SloshNetModel, dict[str, str]]:
    """Our model in its official setting with the formula weights; the ResNet replaced by the fixture's stage maps."""
    head = TRXHeadConfig(seq_len=8, cardinalities=cardinalities, proj_dim=PROJ, dropout=0.0)
    model = SloshNetModel("resnet_tiny", head=head, long_term_attention="official")
    model.backbone = torch.nn.Identity()
    model.feature_dim = DIM
    model.spatial_modulation = SpatialModulation(list(SLOSHNET_CHANNELS))
    model.short_term = ShortTermMotion(DIM, 16)
    model.long_term = LongTermTemporal(DIM, 8, 1, "official")
    model.transformers = head.transformers(feature_dim=DIM)
    model.double()
    ours = model.state_dict()
    state, names = {}, {}
    for row in key_table("sloshnet_head_official"):
        key = row["key"]
        if row["rule"] == "as_built" or ".norm_v." in key:   # PE tables are ours; norm_v is never used officially
            continue
        if key.startswith("transformers.") and int(key.split(".")[1]) >= len(cardinalities):
            continue
        target = sloshnet_key(key)
        assert target in ours, f"{key} -> {target}"
        value = torch.from_numpy(np.asarray(generate(key, row["shape"], row["rule"], SLOSHNET_SEED)))
        state[target] = value.reshape(ours[target].shape).to(ours[target].dtype)
        names[key] = target
    missing = set(ours) - set(state)
    assert not missing, missing
    model.load_state_dict(state, strict=True)
    return model, names


@pytest.fixture(scope="module")
def golden():
    return load("sloshnet_official_head")


def stage_batches(name: str, keys: list[str]) -> list[torch.Tensor]:
    """The four stage maps of the videos `keys`, frames flattened: [(V * 8, C_l, s_l, s_l)] float64."""
    maps = [sloshnet_stage_maps(name, k) for k in keys]
    return [torch.from_numpy(np.concatenate([m[level] for m in maps])).double() for level in range(4)]


def run(model: SloshNetModel, levels: list[torch.Tensor]) -> torch.Tensor:
    fused = model.fuse(levels)
    return fused.reshape(-1, 8, *fused.shape[1:])


@pytest.mark.parametrize("name", EPISODES)
def test_matches_official(golden, name):
    arrays, meta = golden
    info, cards = meta["episodes"][name], EPISODES[name]
    assert tuple(info["temp_set"]) == cards
    model, names = build(cards)
    if info["alpha_normal_2_override"] is not None:
        row, values = info["alpha_normal_2_override"]
        with torch.no_grad():
            model.fusion.alphas[2][row] = torch.tensor(values, dtype=torch.float64)
    ref = lambda key: arrays[f"{name}_{key}"]   # noqa: E731
    s_levels, q_levels = stage_batches(name, info["support_video_keys"]), stage_batches(name, info["query_video_keys"])
    s_labels = torch.from_numpy(ref("support_labels")).long()
    q_labels = torch.from_numpy(ref("query_labels")).long()
    way = info["way"]
    model.train()                      # official train_task: BatchNorm batch statistics, support then queries
    model.zero_grad()
    support, query = run(model, s_levels), run(model, q_levels)
    logits = model(support, s_labels, query, way)
    assert rel_err(logits, ref("logits_f64")) < TOL
    with torch.no_grad():
        assert rel_err(model.temporal(support), ref("support_frames_f64")) < TOL
        assert rel_err(model.temporal(query), ref("query_frames_f64")) < TOL
        if f"{name}_support_cmm_f64" in arrays:
            assert rel_err(model.short_term(support), ref("support_cmm_f64")) < TOL
            assert rel_err(model.long_term(support), ref("support_cstm_f64")) < TOL
        order = torch.argsort(s_labels, stable=True)
        s_frames, q_frames = model.temporal(support[order]), model.temporal(query)
        for i, c in enumerate(cards):
            assert rel_err(model.transformers[i](s_frames, q_frames, way), ref(f"logits_card{c}_f64")) < TOL
    loss, _ = TRXLoss()(logits, q_labels)
    # the official loss() holds the per-query log-probabilities in float32: its value carries float32 rounding
    assert rel_err(loss / 16, ref("task_loss_f64")) < TOL
    accuracy = (logits.argmax(-1) == q_labels).double().mean()
    assert abs(float(accuracy) - float(ref("accuracy_f64"))) < 1e-6
    (loss / 16).backward()
    params = dict(model.named_parameters())
    full = 0
    for i, official in enumerate(info["param_names"]):
        if ".norm_v." in official:   # never used officially: no gradient
            assert np.isnan(ref("grad_norms_f64")[i])
            continue
        grad = params[names[official]].grad
        if official.endswith(ZERO_GRADS):
            assert float(grad.abs().max()) < 1e-12
            continue
        assert rel_err(grad.norm(), ref("grad_norms_f64")[i]) < TOL, official
        flat = grad.reshape(-1).numpy()
        wsum = float((flat * ((np.arange(flat.size) % 97) / 97)).sum())
        assert abs(wsum - ref("grad_wsums_f64")[i]) <= TOL * max(float(np.abs(flat).sum()), 1e-300), official
        key = f"{name}_grad_" + official.replace(".", "_") + "_f64"
        if key in arrays:
            assert rel_err(grad, arrays[key]) < TOL, official
            full += 1
    assert full >= 20
    for official in ("beta1", "gamma1", "darts_model.alpha_normal.0", "darts_model.alpha_normal.2"):
        assert f"{name}_grad_{official.replace('.', '_')}_f64" in arrays   # the architecture weights are learnt
    if f"{name}_support_node3_f64" in arrays:   # the fusion cell's last node, support pass (train mode)
        stats = [b for n, b in model.named_buffers() if ".running_" in n or n.endswith("num_batches_tracked")]
        saved = [b.clone() for b in stats]   # a third pass moves the BatchNorm running statistics: restored
        with torch.no_grad():
            node3 = model.fusion(model.spatial_modulation(s_levels))[3]
            for buffer, value in zip(stats, saved):
                buffer.copy_(value)
        assert rel_err(node3, ref("support_node3_f64")) < TOL
    model.eval()                       # running statistics after the training step's two passes
    with torch.no_grad():
        eval_logits = model(run(model, s_levels), s_labels, run(model, q_levels), way)
    assert rel_err(eval_logits, ref("eval_logits_f64")) < TOL


def test_support_order_does_not_matter_but_labels_do(golden):
    """Shuffling the support (with its labels) keeps the logits; shuffling the labels alone does not."""
    arrays, meta = golden
    model, _ = build((1,))
    model.eval()
    info = meta["episodes"]["5way_5shot_1q"]
    labels = torch.from_numpy(arrays["5way_5shot_1q_support_labels"]).long()
    with torch.no_grad():
        support = run(model, stage_batches("5way_5shot_1q", info["support_video_keys"]))
        query = run(model, stage_batches("5way_5shot_1q", info["query_video_keys"]))
        base = model(support, labels, query, 5)
        perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
        shuffled = model(support[perm], labels[perm], query, 5)
        wrong = model(support, labels[perm], query, 5)
    torch.testing.assert_close(shuffled, base, rtol=1e-10, atol=1e-10)
    assert (wrong - base).abs().max() > 1e-3
