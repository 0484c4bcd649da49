"""Every `vadbench bench` sub-command runs with tiny sizes and prints its fields, headline figure last."""

from __future__ import annotations

import re

import pytest
import torch

from vadbench.cli import main

CASES = {
    "rtfm": (["--batches", "2", "3", "--dim", "16", "--crops", "2", "--segments", "8", "--snippets", "10", "20",
              "--steps", "2", "--repeats", "1", "--device", "cpu"],
             ["Lightning step", "bare PyTorch loop", "s/step", "batch 3+3 Lightning / bare"],
             r"^framework overhead, Lightning step / bare PyTorch step \(target <= 1\.05\): 2\+2 ([\d.]+)x \(cpu\), "
             r"3\+3 ([\d.]+)x \(cpu\)$"),
    "trx-cache": (["--episodes", "3", "--way", "3", "--shot", "1", "--height", "32", "--crop", "28",
                   "--videos-per-class", "2", "--project-episodes", "100", "--project-videos", "20", "--device", "cpu"],
                  ["accuracy identical True", "u: s/episode, recompute", "a: s/episode, cache full",
                   "projected 100 ep, recompute", "projected 100 ep, cached", "V = 20 videos"],
                  r"^embedding cache speed-up of a 100-episode evaluation: ([\d.]+)x \(cpu: .+ -> .+\)$"),
    "memory": (["--sizes", "2", "4", "--dim", "16", "--crops", "2", "--snippets", "10", "20", "--steps", "1",
                "--device", "cpu"],
               ["4 train + 4 test videos: peak RSS", "8 train + 8 test videos: peak RSS", "MB"],
               r"^peak RSS of fit\+test, 2\.0x more videos \(target <= 1\.1\): ([\d.]+)x \(cpu\)$"),
    "extract": (["--generated", "--clips", "1", "--copies", "2", "--frames", "24", "--workers", "1", "--resize", "32x40",
                 "--crop-size", "24", "--snippet-len", "8", "--batch-size", "8", "--repeats", "1", "--device", "cpu"],
                ["plain PyAV decode (to_ndarray)", "vadbench decode (1 process)", "vadbench extract (batched)", "extract / vadbench's own decode alone", "frames/s", "snippets/s",
                 "workers: decode", "workers: resize (+RGB)", "main: float + crops", "main: network", "main: write",
                 "ms/frame", "(sws_bilinear)"],
                r"^extract / bare PyAV decode, tiny3d at 10 views \(target >= 0\.8\): ([\d.]+)x \(cpu\)$"),
    "fewshot-input": (["--workers", "1", "--tasks", "1", "--way", "2", "--shot", "1", "--query", "1", "--size", "32",
                       "--frames", "12", "--height", "32", "--crop", "28", "--backbone", "resnet_tiny",
                       "--model-tasks", "1", "--gpu-backbone", "resnet_tiny", "--gpu-crop", "28", "--device", "cpu"],
                      ["loader, 0 workers", "loader, 1 worker", "TRX training, resnet_tiny at 28 px (cpu)",
                       "GFLOP/frame forward"],
                      r"^input supply / model demand at batch 16 tasks with 1 workers: ([\d.]+)x \(cpu, measured\), "
                      r"([\d.e+-]+)x \(gpu, estimated\); a GPU needs ~\d+ decode workers at \d+ frames/s each$"),
    "gpu": (["--tiny", "--models", "sultani,trx", "--steps", "2", "--warmup", "1", "--published-batch", "1",
             "--published-dim", "16", "--published-steps", "1", "--input-workers", "1", "--input-tasks", "1",
             "--input-way", "2", "--input-query", "1", "--input-size", "32", "--input-frames", "12", "--input-height",
             "32", "--input-crop", "28", "--input-backbone", "resnet_tiny", "--input-model-tasks", "1",
             "--device", "auto"],
            ["vadbench bench gpu: device cpu", "fp32 bf16-mixed bf16 / fp32", "sultani (sultani/synthetic.yaml)",
             "trx (trx/synthetic_5w1s.yaml)", "train step, s/batch", "peak memory, MB n/a n/a",
             "test throughput, videos/s", "test throughput, episodes/s", "frame AUC after 3 steps",
             "accuracy after 3 steps", "published: ucf_crime.yaml, 1+1 x 32 x 10 x 16",
             "20000 steps (max_steps), extrapolated h", "loader supply, 1 worker", "backbone consumption, fp32",
             "backbone consumption, bf16-mixed", "decode workers at"],
            r"^bf16-mixed / fp32 train step time, median over 2 models: ([\d.]+)x \(cpu\)$"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bench_subcommand_prints_its_figures(name, capsys):
    argv, fields, headline = CASES[name]
    assert main(["bench", name, *argv]) == 0
    out = capsys.readouterr().out
    words = " ".join(out.split())  # table cells are padded
    for field in fields:
        assert field in words, (field, out)
    last = out.strip().splitlines()[-1]
    m = re.match(headline, last)
    assert m, last
    assert all(float(x) > 0 for x in m.groups())


@pytest.mark.slow
def test_bench_rtfm_compile_prints_compiled_and_eager_steps(capsys):
    argv = [a for a in CASES["rtfm"][0]]
    argv[argv.index("--batches") + 1: argv.index("--batches") + 3] = ["2"]
    assert main(["bench", "rtfm", *argv, "--compile"]) == 0
    words = " ".join(capsys.readouterr().out.split())
    m = re.search(r"batch 2\+2 Lightning, compiled ([\d.]+) s/step", words)
    assert m and float(m.group(1)) > 0, words
    assert re.search(r"batch 2\+2 compiled / eager ([\d.]+)x", words), words


def test_bench_gpu_reports_a_run_out_of_memory_and_goes_on():
    from vadbench.benchmarks.gpu import _cells, guarded

    def out_of_memory():
        raise torch.OutOfMemoryError("CUDA out of memory")

    failed = guarded(out_of_memory)
    assert failed == {"error": "out of memory (OutOfMemoryError)"}
    assert _cells(failed, {"step": 0.5}, "step", ".4f") == ["out of memory (OutOfMemoryError)", "", ""]
    assert _cells({"step": 1.0}, {"step": 0.5}, "step", ".4f") == ["1.0000", "0.5000", "0.50x"]
