"""Rebuild the golden fixtures' weights and inputs (formulas of tests/golden/data/README.md) and map
the official state_dict keys onto our pure-torch cores.

The fixtures (tests/golden/data/*.npz, *.tsv) were made by running the official RTFM, SSRL and TRX
code on these inputs; the tests load the same weights into our models under our key names, set
the official switches, and compare.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parent / "data"
SEED = "golden-v1"


def load(name: str) -> tuple[dict[str, np.ndarray], dict]:
    """The arrays and the parsed `meta` of `data/<name>.npz`."""
    z = np.load(DATA / f"{name}.npz")
    arrays = {k: z[k] for k in z.files if k != "meta"}
    return arrays, json.loads(str(z["meta"]))


def phase(key: str) -> float:
    return (zlib.crc32(key.encode("utf-8")) % 6283) / 1000


def u(key: str, rows: int, cols: int) -> np.ndarray:
    """u(K, R, C)[r, c] = sin(0.37 (r + c) + 0.01 r c + phase(K)), float64."""
    r = np.arange(rows, dtype=np.int64)[:, None]
    c = np.arange(cols, dtype=np.int64)[None, :]
    return np.sin(0.37 * (r + c) + 0.01 * (r * c) + phase(key))


def key_table(name: str) -> list[dict]:
    """Rows of `data/<name>_keys.tsv`: key, shape, rule, sum, wsum."""
    lines = (DATA / f"{name}_keys.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    rows = []
    for line in lines[1:]:
        row = dict(zip(header, line.split("\t")))
        row["shape"] = () if row["shape"] == "scalar" else tuple(int(s) for s in row["shape"].split("x"))
        rows.append(row)
    return rows


def generate(key: str, shape: tuple[int, ...], rule: str, seed: str = SEED) -> np.ndarray:
    """One official state_dict entry from its key and shape (README table 'Weights and buffers');
    `seed` is the file's weight seed (`golden-v1`; MGFN: `golden-mgfn-v1`)."""
    k = f"{seed}:{key}"
    n = int(np.prod(shape)) if shape else 1
    if rule == "weight":
        rows = shape[0]
        cols = n // rows
        return (np.sqrt(2.0 / cols) * u(k, rows, cols)).reshape(shape)
    if rule in ("bias", "running_mean"):
        return 0.1 * u(k, n, 1)[:, 0]
    if rule == "norm_weight":
        return 1 + 0.25 * u(k, n, 1)[:, 0]
    if rule == "running_var":
        return 1 + 0.5 * u(k, n, 1)[:, 0] ** 2
    if rule == "zero":
        return np.zeros((), dtype=np.int64)
    if rule == "gain":   # STRM's attention gate gamma (a 1-element parameter)
        return 0.5 + 0.25 * u(k, n, 1)[:, 0]
    raise ValueError(f"no formula for rule {rule!r} ({key})")


def official_state(name: str, skip_prefixes: tuple[str, ...] = (), seed: str = SEED) -> dict[str, torch.Tensor]:
    """The official state_dict of `<name>_keys.tsv` in float64, checked against the table's sums. A
    1-D rule on a tensor of more dimensions (MGFN's LayerNorm gains `g` of shape (1, C, 1)) is
    generated flat and reshaped to the key's shape."""
    state = {}
    for row in key_table(name):
        if row["rule"] == "as_built" or row["key"].startswith(skip_prefixes):
            continue
        value = generate(row["key"], row["shape"], row["rule"], seed)
        if row["rule"] != "zero":
            value = value.reshape(row["shape"])
        if row["rule"] != "zero":
            flat = value.reshape(-1)
            wsum = float((flat * ((np.arange(flat.size) % 97) / 97)).sum())
            assert np.isclose(flat.sum(), float(row["sum"]), rtol=1e-12, atol=1e-12), row["key"]
            assert np.isclose(wsum, float(row["wsum"]), rtol=1e-12, atol=1e-12), row["key"]
        state[row["key"]] = torch.from_numpy(np.asarray(value))
    return state


def feature_file(key: str, t: int, views: int, dim: int = 2048, s: float = 0.4) -> np.ndarray:
    """[T, V, D] float32 feature file of video `key` (README 'MIL feature files')."""
    a = 1 + 0.5 * np.sin(1.3 * np.arange(t) + phase(key))
    base = u(key, t, dim)[:, None, :]
    view = u(key + "/view", t * views, dim).reshape(t, views, dim)
    return (a[:, None, None] * (0.5 + s * base + (0.5 - s) * view)).astype(np.float32)


def trx_features(episode: str, video_key: str) -> np.ndarray:
    """(8, 2048) float32 frame features of a TRX video (README 'TRX features')."""
    cls = video_key.rsplit("/", 1)[1].split("_")[0]          # "class<c>"
    e = f"{SEED}/trx/{episode}"
    x = 0.5 + 0.4 * u(e + "/common", 8, 2048) + 0.03 * u(f"{e}/{cls}", 8, 2048) + 0.02 * u(video_key, 8, 2048)
    return x.astype(np.float32)


STRM_SEED = "golden-strm-v1"


def strm_feature_maps(episode: str, video_key: str, dim: int = 32, seq_len: int = 8, size: int = 7) -> np.ndarray:
    """(T, D, 7, 7) float32 per-frame feature maps of a STRM video (data/README.md, STRM section):
    TRX's formula over the D * 7 * 7 values of a frame's map (row-major: channel, row, column)."""
    cls = video_key.rsplit("/", 1)[1].split("_")[0]          # "class<c>"
    e = f"{STRM_SEED}/strm/{episode}"
    cols = dim * size * size
    x = (0.5 + 0.4 * u(e + "/common", seq_len, cols) + 0.03 * u(f"{e}/{cls}", seq_len, cols)
         + 0.02 * u(video_key, seq_len, cols))
    return x.reshape(seq_len, dim, size, size).astype(np.float32)


BIMACL_SEED = "golden-bimacl-v1"


def bimacl_feature_maps(episode: str, video_key: str, dim: int = 32, seq_len: int = 8, size: int = 7) -> np.ndarray:
    """(T, D, 7, 7) float32 per-frame feature maps of a BiMACL video (data/README.md, BiMACL section): the STRM
    formula with episode key E = `golden-bimacl-v1/bimacl/<episode>`."""
    cls = video_key.rsplit("/", 1)[1].split("_")[0]          # "class<c>"
    e = f"{BIMACL_SEED}/bimacl/{episode}"
    cols = dim * size * size
    x = (0.5 + 0.4 * u(e + "/common", seq_len, cols) + 0.03 * u(f"{e}/{cls}", seq_len, cols)
         + 0.02 * u(video_key, seq_len, cols))
    return x.reshape(seq_len, dim, size, size).astype(np.float32)


# ------------------------------------------------------------------ key maps official -> ours
def _relation_map(official: str, ours: str) -> dict[str, str]:
    """The official `Aggregate` (RTFM model.py) onto our `TemporalRelation`."""
    m = {}
    for i in range(3):
        m[f"{official}.conv_{i + 1}.0"] = f"{ours}.dilated.{i}.0"
        m[f"{official}.conv_{i + 1}.2"] = f"{ours}.dilated.{i}.2"
    m[f"{official}.conv_4.0"] = f"{ours}.reduce.0"
    m[f"{official}.conv_5.0"] = f"{ours}.fuse.0"
    m[f"{official}.conv_5.2"] = f"{ours}.fuse.2"
    for part in ("theta", "phi", "g"):
        m[f"{official}.non_local.{part}"] = f"{ours}.non_local.{part}"
    m[f"{official}.non_local.W.0"] = f"{ours}.non_local.w_z.0"
    m[f"{official}.non_local.W.1"] = f"{ours}.non_local.w_z.1"
    return m


def _classifier_map(official_prefix: str) -> dict[str, str]:
    return {f"{official_prefix}fc1": "classifier.net.0", f"{official_prefix}fc2": "classifier.net.3",
            f"{official_prefix}fc3": "classifier.net.6"}


def rtfm_key_map() -> dict[str, str]:
    return {**_relation_map("Aggregate", "relation"), **_classifier_map("")}


SSRL_SCALES = ("patch23", "patch35", "patch47")


def ssrl_key_map(num_scales: int) -> dict[str, str]:
    m = {**_relation_map("Aggregate_clip", "relation"), **_classifier_map("classfier.")}
    for i, scale in enumerate(SSRL_SCALES[:num_scales]):
        m.update(_relation_map(f"Aggregate_patch.{i}", f"psr.{scale}"))
        m[f"patch_to_clip.{i}.0"] = f"mpa.{scale}.conv.0"
        m[f"patch_to_clip.{i}.2"] = f"mpa.{scale}.conv.2"
        m[f"linear_out.{i}"] = f"mpa.{scale}.fc.0"
    return m


def trx_key_map() -> dict[str, str]:
    m = {}
    for i in range(2):
        m[f"transformers.{i}.k_linear"] = f"transformers.{i}.key"
        m[f"transformers.{i}.v_linear"] = f"transformers.{i}.value"
        m[f"transformers.{i}.norm_k"] = f"transformers.{i}.key_norm"
    return m


def strm_key_map(cardinalities: int = 2) -> dict[str, str]:
    """The official `CNN_STRM` (without its ResNet) and its QC `DistanceLoss` list onto our `STRMModel`."""
    m = {"attn_pat": "patch_enrichment", "attn_pat.query_proj": "patch_enrichment.query",
         "attn_pat.key_proj": "patch_enrichment.key", "attn_pat.value_conv": "patch_enrichment.value",
         "attn_pat.Bot_MLP.inp_fc": "patch_enrichment.mlp.0", "attn_pat.Bot_MLP.hid_fc": "patch_enrichment.mlp.2",
         "attn_pat.Bot_MLP.out_fc": "patch_enrichment.mlp.4",
         "fr_enrich.Tok_MLP.inp_fc": "frame_enrichment.token_mlp.0",
         "fr_enrich.Tok_MLP.out_fc": "frame_enrichment.token_mlp.2",
         "fr_enrich.Bot_MLP.inp_fc": "frame_enrichment.channel_mlp.0",
         "fr_enrich.Bot_MLP.out_fc": "frame_enrichment.channel_mlp.2"}
    for i in range(cardinalities):
        m[f"transformers.{i}.k_linear"] = f"transformers.{i}.key"
        m[f"transformers.{i}.v_linear"] = f"transformers.{i}.value"
        m[f"transformers.{i}.norm_k"] = f"transformers.{i}.key_norm"
        m[f"new_dist_loss_post_pat.{i}.clsW"] = f"query_class.{i}.project"
    return m


def bimacl_key_map(cardinalities: int = 2) -> dict[str, str]:
    """The official `CNN_BiMACL` (without its ResNet) and its `DistanceLoss` list onto our `BiMACLModel`."""
    m = {"Motion_Excitation": "motion", "Motion_Excitation.conv": "motion.value_conv",
         "Motion_Excitation.conv1": "motion.reduce", "Motion_Excitation.bn1": "motion.reduce_norm",
         "Motion_Excitation.conv2": "motion.shift_conv", "Motion_Excitation.conv3": "motion.mix",
         "Motion_Excitation.conv3_smallscale2": "motion.coarse_conv",
         "Motion_Excitation.bn3_smallscale2": "motion.coarse_norm",
         "Motion_Excitation.conv3_smallscale4": "motion.fine_conv",
         "Motion_Excitation.bn3_smallscale4": "motion.fine_norm"}
    for i in range(cardinalities):
        m[f"transformers.{i}.k_linear"] = f"transformers.{i}.key"
        m[f"transformers.{i}.v_linear"] = f"transformers.{i}.value"
        m[f"transformers.{i}.norm_k"] = f"transformers.{i}.key_norm"
        m[f"new_dist_loss_post_pat.{i}.clsW"] = f"contrast.{i}.project"
    return m


def rename(key: str, key_map: dict[str, str]) -> str:
    module, leaf = key.rsplit(".", 1)
    if module not in key_map:
        raise KeyError(f"official key {key} has no counterpart in the key map")
    return f"{key_map[module]}.{leaf}"


def load_official(model: torch.nn.Module, official: dict[str, torch.Tensor], key_map: dict[str, str],
                  unused_official: tuple[str, ...] = ()) -> dict[str, str]:
    """Copy the official weights into `model` (float64). Our parameters the official model lacks
    (biases of the official bias-free convolutions) are set to zero, which makes them the same
    function. Returns official name -> our name."""
    model.double()
    ours = model.state_dict()
    names = {}
    for key, value in official.items():
        if key.startswith(unused_official):
            continue
        target = rename(key, key_map)
        assert target in ours, f"{key} -> {target} not in our model"
        assert tuple(ours[target].shape) == tuple(value.shape), (key, ours[target].shape, value.shape)
        names[key] = target
    covered = set(names.values())
    new_state = {}
    for target, tensor in ours.items():
        if target in covered:
            continue
        assert target.endswith("bias"), f"our {target} has no official counterpart"
        new_state[target] = torch.zeros_like(tensor)
    for key, target in names.items():
        new_state[target] = official[key].to(ours[target].dtype)
    model.load_state_dict(new_state, strict=True)
    return names


def rel_err(ours, reference) -> float:
    ours = np.asarray(ours.detach().cpu().numpy() if torch.is_tensor(ours) else ours, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    return float(np.abs(ours - reference).max() / max(np.abs(reference).max(), 1e-300))


def check_topk_forward(out, idx, arrays, prefix: str, tol: float, b: int = 2) -> None:
    """A magnitude-MIL forward (`RTFMOutput` and its top-k indices) against a fixture's `<prefix>_scores`,
    `_magnitudes` (relative error below `tol`), `_topk_normal` / `_topk_abnormal` (exact) and, where the
    fixture has them, `_score_normal` / `_score_abnormal` (the mean of the k selected scores); `_f64`
    arrays; B = `b` normal videos first."""
    from vadbench.models.rtfm.torch_model import gather_snippets

    assert rel_err(out.scores, arrays[f"{prefix}_scores_f64"]) < tol
    assert rel_err(out.magnitudes, arrays[f"{prefix}_magnitudes_f64"]) < tol
    np.testing.assert_array_equal(idx[:b].numpy(), arrays[f"{prefix}_topk_normal_f64"])
    np.testing.assert_array_equal(idx[b:].numpy(), arrays[f"{prefix}_topk_abnormal_f64"])
    if f"{prefix}_score_normal_f64" in arrays:
        top = gather_snippets(out.scores, idx).mean(1)
        assert rel_err(top[:b], arrays[f"{prefix}_score_normal_f64"]) < tol
        assert rel_err(top[b:], arrays[f"{prefix}_score_abnormal_f64"]) < tol


def clip_fixture(forward: str, step: str, keys: str, seed: str = SEED) -> dict:
    """A 10-crop clip model's fixtures (RTFM, MGFN): the forward and step arrays, the step's meta, the float64
    2 + 2 training batch (2B, 32, 10, 2048) and test video (1, T, 10, 2048), and the official state of
    `<keys>_keys.tsv`."""
    fwd, meta = load(forward)
    arrays, step_meta = load(step)
    videos = meta["normal_video_keys"] + meta["abnormal_video_keys"]
    batch = torch.from_numpy(np.stack([feature_file(k, 32, 10) for k in videos])).double()
    test = torch.from_numpy(feature_file(meta["test_video_key"], meta["test_T"], 10))[None].double()
    return {"fwd": fwd, "step": arrays, "meta": step_meta, "batch": batch, "test": test,
            "state": official_state(keys, seed=seed)}


def magnitude_mil_eval(model, batch, test):
    """Eval forward of a magnitude-MIL core on the fixture batch and test video: (out, top-k, test out)."""
    model.eval()
    with torch.no_grad():
        out = model(batch)
        return out, model.topk(out), model(test)


def magnitude_mil_train_step(model, batch, loss_fn, labels=(0.0, 0.0, 1.0, 1.0)):
    """One training step of a magnitude-MIL core (train mode, gradients of `loss` kept): (out, top-k, terms)."""
    from vadbench.models.rtfm.torch_model import gather_snippets

    model.train()
    model.zero_grad()
    out = model(batch)
    idx = model.topk(out)
    terms = loss_fn(gather_snippets(out.features, idx), gather_snippets(out.scores, idx), out.scores,
                    torch.tensor(labels, dtype=batch.dtype))
    terms["loss"].backward()
    return out, idx, terms


SLOSHNET_SEED = "golden-sloshnet-v1"
SLOSHNET_CHANNELS, SLOSHNET_SIZES = (8, 16, 32, 64), (16, 8, 4, 2)


def sloshnet_stage_maps(episode: str, video_key: str, seq_len: int = 8) -> list[np.ndarray]:
    """The four (T, C_l, s_l, s_l) float32 stage maps of a SloshNet video (data/README.md, SloshNet section):
    TRX's formula over the C_l s_l^2 values of a frame's level-l map, keys suffixed `/level<l>`."""
    cls = video_key.rsplit("/", 1)[1].split("_")[0]          # "class<c>"
    e = f"{SLOSHNET_SEED}/sloshnet/{episode}"
    maps = []
    for level, (c, s) in enumerate(zip(SLOSHNET_CHANNELS, SLOSHNET_SIZES)):
        n, tag = c * s * s, f"/level{level}"
        x = (0.5 + 0.4 * u(f"{e}/common{tag}", seq_len, n) + 0.03 * u(f"{e}/{cls}{tag}", seq_len, n)
             + 0.02 * u(video_key + tag, seq_len, n))
        maps.append(x.reshape(seq_len, c, s, s).astype(np.float32))
    return maps


SLOSHNET_RENAMES = (   # official state_dict key patterns -> our SloshNetModel's (re.sub, in order)
    (r"^beta1$", "level_weights"), (r"^gamma1$", "temporal_weights"),
    (r"^darts_model\.alpha_normal\.", "fusion.alphas."),
    (r"\.k_linear\.", ".key."), (r"\.v_linear\.", ".value."), (r"\.norm_k\.", ".key_norm."),
    (r"^cmm\.qconv\.", "short_term.q_conv."), (r"^cmm\.kconv\.", "short_term.k_conv."),
    (r"^cmm\.mlp\.fc1\.", "short_term.gate.0."), (r"^cmm\.mlp\.fc2\.", "short_term.gate.2."),
    (r"^cmm\.", "short_term."),
    (r"^cstm\.resblocks\.", "long_term.blocks."), (r"\.ln_1\.", ".norm1."), (r"\.ln_2\.", ".norm2."),
    (r"\.mlp\.c_fc\.", ".mlp.0."), (r"\.mlp\.c_proj\.", ".mlp.2."),
    (r"^spatial_modulation\.spatial_modulation\.(\d+)\.(\d+)\.bn2\.", r"spatial_modulation.levels.\1.\2.1."),
    (r"^spatial_modulation\.spatial_modulation\.(\d+)\.(\d+)\.conv2\.", r"spatial_modulation.levels.\1.\2.2."),
)


def sloshnet_key(official: str) -> str:
    """An official SloshNet state_dict key -> ours."""
    import re

    for pattern, repl in SLOSHNET_RENAMES:
        official = re.sub(pattern, repl, official)
    return official
