"""The published numbers in the metafiles beside the models: spot values against the papers, and checks."""

from __future__ import annotations

import shutil

import pytest
import yaml

from vadbench.leaderboard.metafile import load_metafile
from vadbench.models.discovery import MODELS_DIR, model_folders


@pytest.fixture(scope="module")
def meta():
    return load_metafile()


def value(meta, paper, table, model, dataset, setting, metric, source=None):
    hits = [e for e in meta.table_entries(paper, table) if e.model == model and e.dataset == dataset
            and e.setting == setting and e.metric == metric and (source is None or e.source == source)]
    assert len(hits) == 1, (paper, table, model, dataset, setting, metric, hits)
    return hits[0].value


@pytest.mark.parametrize("key, expected", [
    (("ssrl_eccv22", "table1", "ssrl", "ucf_crime", "default", "frame_auc_micro"), 87.43),
    (("ssrl_eccv22", "table1", "ssrl", "shanghaitech", "share_params", "frame_auc_micro"), 97.84),
    (("ssrl_eccv22", "table1", "rtfm", "shanghaitech", "default", "frame_auc_micro"), 97.21),
    (("ssrl_eccv22", "table1", "sultani", "ucf_crime", "features=c3d", "frame_auc_micro"), 75.41),
    (("ssrl_eccv22", "table2", "video_swin_mil", "ucf_crime", "default", "frame_auc_micro"), 81.62),
    (("ssrl_eccv22", "table3", "ssrl", "ucf_crime", "scales=clip+patch23+patch47", "frame_auc_micro"), 86.97),
    (("ssrl_eccv22", "table3", "ssrl", "shanghaitech", "scales=clip+patch35", "frame_auc_micro"), 97.69),
    (("ssrl_eccv22", "table4", "ssrl", "ucf_crime", "psr=off", "frame_auc_micro"), 85.98),
    (("ssrl_eccv22", "table5", "ssrl", "ucf_crime", "psr=no_dilated", "frame_auc_micro"), 86.57),
    (("ssrl_eccv22", "table5", "ssrl", "shanghaitech", "psr=no_nonlocal", "frame_auc_micro"), 97.63),
    (("ssrl_eccv22", "table6", "ssrl", "any", "share_params", "params_m"), 136),
    (("ssrl_eccv22", "table6", "zhong_gcn", "any", "features=c3d", "flops_g"), 386.2),
    (("msip_icassp24", "comparison", "msip", "shanghaitech", "default", "frame_auc_micro"), 98.00),
    (("msip_icassp24", "comparison", "msip", "ucf_crime", "default", "frame_auc_micro"), 86.98),
    (("msip_icassp24", "comparison", "rtfm", "shanghaitech", "features=c3d", "frame_auc_micro"), 91.57),
    (("msip_icassp24", "comparison", "sultani", "ucf_crime", "default", "frame_auc_micro"), 77.92),
    (("msip_icassp24", "ablation_modules", "msip", "ucf_crime", "hgc=off", "frame_auc_micro"), 86.09),
    (("msip_icassp24", "ablation_scales", "msip", "ucf_crime", "scales=clip+patch23+patch47", "frame_auc_micro"), 86.71),
    (("msip_icassp24", "complexity", "msip", "any", "default", "params_m"), 75.2),
    (("sta_mil", "table1", "sta_mil", "ucsd_ped2", "default", "frame_auc_micro"), 96.7),
    (("sta_mil", "table1", "sta_mil", "shanghaitech", "features=c3d", "frame_auc_micro"), 88.7),
    (("sta_mil", "table1", "sultani", "shanghaitech", "default", "frame_auc_micro"), 87.7),
    (("sta_mil", "table2", "sta_mil", "ucf_crime", "head=fc", "score_gap"), 0.56),
    (("sta_mil", "table2", "sta_mil", "ucf_crime", "head=fc,mce=off", "frame_auc_micro"), 79.4),
    (("skps_net_en", "table1", "skps_net", "kinetics100", "5w10s", "accuracy"), 89.2),
    (("skps_net_en", "table1", "trx", "hmdb51", "5w5s", "accuracy", "reimplemented"), 73.3),
    (("skps_net_en", "table1", "trx", "hmdb51", "5w5s", "accuracy", "original_paper"), 75.6),
    (("skps_net_en", "table1", "ata", "kinetics100", "5w1s", "accuracy", "original_paper"), 74.3),
    (("skps_net_en", "table2", "sloshnet", "ucf_crime_v2", "5w10s", "accuracy"), 53.7),
    (("skps_net_en", "table2", "skps_net", "ucf_crime_v2", "5w1s", "accuracy"), 37.0),
    (("skps_net_en", "table3", "skps_net", "ucf_crime_v2", "5w10s,modules=kps", "accuracy"), 54.6),
    (("skps_net_en", "table4", "skps_net", "kinetics100", "5w5s,patch=random", "accuracy"), 85.6),
    (("skps_net_zh_journal", "table3", "skps_net", "kinetics100", "5w5s,modules=kps,tricks=none", "accuracy"), 71.5),
    (("skps_net_zh_journal", "table3", "skps_net", "ucf_crime_v2", "5w5s,modules=kps,tricks=grad_stop", "accuracy"), 47.5),
    # XD-Violence (issue 21): re-prints, sources in vadbench/models/rtfm/metafile.yml
    (("vadclip_aaai24", "table1", "sultani", "xd_violence", "features=clip", "frame_ap_micro"), 75.18),
    (("vadclip_aaai24", "table1", "rtfm", "xd_violence", "features=clip", "frame_ap_micro"), 78.27),
    (("vadclip_aaai24", "table2", "rtfm", "ucf_crime", "features=clip", "frame_auc_abnormal"), 63.86),
    (("vadclip_aaai24", "table2", "sultani", "ucf_crime", "features=clip", "frame_auc_micro"), 84.14),
    (("holmes_vad_arxiv24", "table1", "rtfm", "xd_violence", "default", "frame_pr_auc_micro"), 77.81),
    # issue 22: the proposing papers' numbers (official best-record files, arXiv abstract)
    (("urdmu_aaai23", "comparison", "urdmu", "ucf_crime", "default", "frame_auc_micro"), 86.97),
    (("urdmu_aaai23", "comparison", "urdmu", "xd_violence", "default", "frame_pr_auc_micro"), 81.66),
    (("bn_wvad_2023", "comparison", "bn_wvad", "ucf_crime", "default", "frame_auc_micro"), 87.24),
    (("bn_wvad_2023", "comparison", "bn_wvad", "xd_violence", "default", "frame_pr_auc_micro"), 84.93),
])
def test_spot_values(meta, key, expected):
    assert value(meta, *key) == pytest.approx(expected)


def test_xd_violence_numbers_name_their_metric_and_where_they_come_from(meta):
    """VadCLIP's AP is scikit-learn's average precision (its code), RTFM's the official auc(recall, precision);
    RTFM's own number is a quote (Holmes-VAD), the CLIP-feature rows re-implementations: neither is preferred over
    a paper that proposes the model, and a default I3D run is never set against a CLIP-feature number."""
    xd = [e for e in meta.entries if e.dataset == "xd_violence" and e.model in ("sultani", "rtfm", "ssrl", "msip", "sta_mil")]
    assert {(e.model, e.setting, e.metric, e.source) for e in xd} == {
        ("sultani", "features=clip", "frame_ap_micro", "reimplemented"),
        ("rtfm", "features=clip", "frame_ap_micro", "reimplemented"),
        ("rtfm", "default", "frame_pr_auc_micro", "original_paper")}
    assert meta.best("rtfm", "default", "xd_violence", "frame_ap_micro") is None
    assert meta.best("sultani", "default", "xd_violence", "frame_pr_auc_micro") is None
    assert not [e for e in meta.entries if e.dataset == "xd_violence" and e.model in ("ssrl", "msip", "sta_mil")]


def test_reported_vs_reimplemented_rows_are_distinct(meta):
    assert value(meta, "skps_net_en", "table1", "trx", "kinetics100", "5w1s", "accuracy", source="original_paper") == 63.6
    assert value(meta, "skps_net_en", "table1", "trx", "kinetics100", "5w1s", "accuracy", source="reimplemented") == 63.7
    # comparisons prefer the reimplementation under the same conditions over a quoted number
    assert meta.best("trx", "5w1s", "kinetics100", "accuracy").source == "reimplemented"
    # and a paper's own number for the model it proposes
    best = meta.best("ssrl", "default", "ucf_crime", "frame_auc_micro")
    assert (best.paper, best.value) == ("ssrl_eccv22", 87.43)


def test_every_table_has_entries_and_dashes_are_absent(meta):
    for paper, info in meta.papers.items():
        for table in info["tables"]:
            assert meta.table_entries(paper, table), f"{paper}/{table} has no entries"
    # "-" cells are no entry: BODS has no ShanghaiTech number, ARN no 10-shot number
    assert meta.best("bods", "default", "shanghaitech", "frame_auc_micro") is None
    assert not meta.find("arn", "5w10s", "hmdb51", "accuracy")
    assert len(meta.entries) > 300


def _one_model_folder(tmp_path, model="sta_mil"):
    """A folder holding a copy of one model's metafile (`<tmp>/<model>/metafile.yml`) and its parsed text."""
    (tmp_path / model).mkdir()
    path = tmp_path / model / "metafile.yml"
    shutil.copy(MODELS_DIR / model / "metafile.yml", path)
    return path, yaml.safe_load(path.read_text(encoding="utf-8"))


def test_bad_metafile_errors_name_the_file_and_entry(tmp_path):
    path, data = _one_model_folder(tmp_path)
    n = len(data["results"])

    def with_entry(**entry):
        path.write_text(yaml.safe_dump({**data, "results": data["results"] + [entry]}), encoding="utf-8")
        return tmp_path

    base = dict(paper="sta_mil", table="table1", model="x", label="x", dataset="ucf_crime", setting="default",
                metric="frame_auc_micro", value=1.0)
    with pytest.raises(ValueError, match=rf"metafile .*sta_mil/metafile.yml, entry {n}: dataset 'ucf' is not one of"):
        load_metafile(with_entry(**{**base, "dataset": "ucf"}))
    with pytest.raises(ValueError, match="table 'table9' is not declared"):
        load_metafile(with_entry(**{**base, "table": "table9"}))
    with pytest.raises(ValueError, match="paper 'nope' is not declared"):
        load_metafile(with_entry(**{**base, "paper": "nope"}))
    with pytest.raises(ValueError, match="duplicates entry"):
        load_metafile(with_entry(**{**base, "model": "sta_mil", "value": 83.0, "feature": "I3D-RGB"}))
    path.write_text("model: sta_mil\npaper: {title: t}\nresults: 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="`results:` must be a list"):
        load_metafile(tmp_path)
    path.write_text("model: other\npaper: {title: t}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="differs from its folder name 'sta_mil'"):
        load_metafile(tmp_path)
    path.write_text("model: sta_mil\npaper: {title: t}\nresult: []\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"unknown top-level key\(s\) \['result'\]"):
        load_metafile(tmp_path)


def test_a_paper_is_declared_once(tmp_path):
    _one_model_folder(tmp_path, "sta_mil")
    path, data = _one_model_folder(tmp_path, "ssrl")
    data["papers"]["sta_mil"] = {"tables": {"table1": "x"}}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ValueError, match="paper 'sta_mil' is already declared in .*ssrl/metafile.yml"):
        load_metafile(tmp_path)


def test_every_model_has_a_metafile_with_its_paper_and_configs(meta):
    for m in model_folders():
        assert m.metafile.is_file(), f"{m.folder} has no metafile.yml"
        info = meta.models[m.name]
        assert info.paper["title"] and "venue" in info.paper and "year" in info.paper and "url" in info.paper
        assert info.configs, f"{m.metafile} lists no configs"
        for cfg in info.config_paths():
            assert cfg.is_file(), f"{m.metafile} lists {cfg}, which does not exist"


def test_moved_numbers_keep_their_order_per_paper(meta):
    """The merged metafiles give the papers in the leaderboard's order and every entry once: the 316 numbers
    moved from the former single metafile, then the XD-Violence re-prints of issue 21 (7), then the papers
    of later models (issue 22: UR-DMU, BN-WVAD)."""
    moved_papers = ["ssrl_eccv22", "msip_icassp24", "sta_mil", "skps_net_en", "skps_net_zh_journal"]
    reprints = ["vadclip_aaai24", "holmes_vad_arxiv24"]
    assert list(meta.papers)[:7] == moved_papers + reprints
    assert sum(e.paper in moved_papers for e in meta.entries) == 316
    assert sum(e.paper in reprints for e in meta.entries) == 7
    assert [e.order for e in meta.entries] == list(range(len(meta.entries)))
    ranks = [list(meta.papers).index(e.paper) for e in meta.entries]
    assert ranks == sorted(ranks)
    assert meta.entries[0].label == "BODS [33]" and meta.entries[315].paper == "skps_net_zh_journal"
