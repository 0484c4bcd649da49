#!/usr/bin/env bash
# The GPU measurements behind README "Performance", for a machine with a CUDA GPU (bf16 needs Ampere or
# newer). About 5-10 minutes on one H100; everything goes to OUT (default gpu_bench_<UTC time>/).
#
#   benchmarks/gpu_bench.sh [OUT]            # runs this checkout's vadbench (its dependencies installed)
#   STEPS=100 WORKERS=8 benchmarks/gpu_bench.sh
#
# 1. `vadbench bench gpu`: every model, fp32 vs bf16-mixed: step time, peak memory, test throughput,
#    AUC/accuracy after STEPS steps, MIL time to the published iterations, few-shot input vs backbone.
# 2. The issue's command, `vadbench fit --config rtfm/synthetic.yaml --config trainer/gpu.yaml`, and the
#    same with trainer/gpu_fp32.yaml (results and times side by side).
# 3. With 2+ GPUs: a 2-process DDP test of one checkpoint gives the 1-process AUC exactly.
# 4. The other benchmarks' GPU columns (RTFM Lightning/bare at 32+32, TRX embedding cache).
# A summary of the headline lines is printed last and written to OUT/summary.txt.
# SMOKE=1 rehearses the whole script on the CPU with tiny sizes (no GPU needed; figures meaningless).
set -euo pipefail

OUT=${1:-gpu_bench_$(date -u +%Y%m%dT%H%M%SZ)}
STEPS=${STEPS:-100}
WORKERS=${WORKERS:-$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export VADBENCH_HOME="$OUT/vadbench_home"     # generated synthetic data
export WANDB_MODE=disabled PYTHONWARNINGS=ignore
REPO=$(cd "$(dirname "$0")/.." && pwd)           # this checkout's vadbench, whatever else is installed
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
VB=(python -m vadbench.cli)

if [ "${SMOKE:-0}" = 1 ]; then
  DEV=cpu
  BENCH_GPU=(--tiny --models sultani,trx --steps 2 --warmup 1 --published-batch 1 --published-dim 16
             --published-steps 1 --input-workers 1 --input-tasks 1 --input-way 2 --input-query 1 --input-size 32
             --input-frames 12 --input-height 32 --input-crop 28 --input-backbone resnet_tiny --input-model-tasks 1)
  mapfile -t FIT < <(python -c "from vadbench.benchmarks.zoo import tiny_data_overrides as t; print(*t('rtfm/synthetic.yaml'), sep='\n')")
  FIT+=(--trainer.accelerator=cpu --trainer.max_steps=2)
  BENCH_RTFM=(--batches 2 --dim 16 --crops 2 --segments 8 --snippets 10 20 --steps 2 --repeats 1)
  BENCH_TRX=(--episodes 3 --way 3 --shot 1 --height 32 --crop 28 --videos-per-class 2 --project-episodes 100
             --project-videos 20)
else
  DEV=cuda
  BENCH_GPU=(--steps "$STEPS" --num-workers 4 --input-workers "$WORKERS")
  FIT=()
  BENCH_RTFM=(--batches 4 32 --steps 10 --repeats 2)
  BENCH_TRX=()
fi

DEV=$DEV python - <<'EOF' | tee "$OUT/device.txt"
import os
import torch
if os.environ["DEV"] == "cpu":
    print(f"SMOKE rehearsal on the CPU: torch {torch.__version__}; no GPU figures")
    raise SystemExit(0)
assert torch.cuda.is_available(), "gpu_bench.sh needs a CUDA GPU (SMOKE=1 rehearses it on the CPU)"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.device_count()} GPU(s): "
      + ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
      + f"; bf16 supported: {torch.cuda.is_bf16_supported()}")
EOF
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true

echo "== 1. vadbench bench gpu"
"${VB[@]}" bench gpu --device "$DEV" "${BENCH_GPU[@]}" 2>&1 | tee "$OUT/bench_gpu.txt"

echo "== 2. vadbench fit --config rtfm/synthetic.yaml --config trainer/gpu.yaml (and gpu_fp32.yaml)"
for preset in gpu gpu_fp32; do
  start=$(date +%s.%N)
  "${VB[@]}" fit --config rtfm/synthetic.yaml --config "trainer/$preset.yaml" "${FIT[@]}" --trainer.enable_progress_bar=false \
    --trainer.default_root_dir "$OUT/runs_$preset" --results_dir "$OUT/results_$preset" 2>&1 | tail -n 30 \
    | tee "$OUT/fit_rtfm_$preset.txt"
  echo "$preset: $(python -c "print(f'{$(date +%s.%N) - $start:.1f}')") s wall (fit + test)" | tee -a "$OUT/fit_rtfm_$preset.txt"
done
python - "$OUT" <<'EOF' | tee "$OUT/fit_rtfm_summary.txt"
import sys
from pathlib import Path
from vadbench.results import load_records
out = Path(sys.argv[1])
for preset in ("gpu", "gpu_fp32"):
    (rec,) = load_records([out / f"results_{preset}"])
    print(f"rtfm/synthetic.yaml + trainer/{preset}.yaml: frame_auc_micro {rec['metrics']['frame_auc_micro']:.4f}")
EOF

if [ "$DEV" = cuda ] && [ "$(python -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
  echo "== 3. 2-process DDP on 2 GPUs: each test video exactly once"
  common=(--config rtfm/synthetic.yaml --trainer.enable_progress_bar=false --trainer.default_root_dir "$OUT/runs_ddp")
  "${VB[@]}" fit "${common[@]}" --config trainer/gpu.yaml --trainer.max_steps=50 --run_test=false \
    --trainer.logger=false --checkpoint.dirpath "$OUT/ddp_ckpt" > "$OUT/ddp_fit.txt" 2>&1
  "${VB[@]}" test "${common[@]}" --config trainer/gpu_fp32.yaml --ckpt_path "$OUT/ddp_ckpt/last.ckpt" \
    --results_dir "$OUT/ddp_1" > "$OUT/ddp_test1.txt" 2>&1
  "${VB[@]}" test "${common[@]}" --config trainer/ddp.yaml --trainer.devices=2 --ckpt_path "$OUT/ddp_ckpt/last.ckpt" \
    --results_dir "$OUT/ddp_2" > "$OUT/ddp_test2.txt" 2>&1
  python - "$OUT" <<'EOF' | tee "$OUT/ddp.txt"
import sys
from pathlib import Path
from vadbench.results import load_records
out = Path(sys.argv[1])
(one,), (two,) = load_records([out / "ddp_1"]), load_records([out / "ddp_2"])
keys = ("num_videos", "num_frames", "frame_auc_micro", "frame_auc_macro", "frame_ap_micro")
same = all(one["metrics"][k] == two["metrics"][k] for k in keys)
print("2-process DDP test on 2 GPUs vs 1 GPU: " + ", ".join(f"{k} {one['metrics'][k]} / {two['metrics'][k]}" for k in keys)
      + f" -> {'identical' if same else 'DIFFERENT'}")
EOF
else
  echo "== 3. skipped: fewer than 2 GPUs (the 2-process DDP test needs two)" | tee "$OUT/ddp.txt"
fi

echo "== 4. GPU columns of the other benchmarks"
"${VB[@]}" bench rtfm --device "$DEV" "${BENCH_RTFM[@]}" 2>&1 | tee "$OUT/bench_rtfm.txt"
"${VB[@]}" bench trx-cache --device "$DEV" "${BENCH_TRX[@]}" 2>&1 | tee "$OUT/bench_trx_cache.txt"

{
  cat "$OUT/device.txt"
  tail -n 1 "$OUT/bench_gpu.txt"
  grep -E "^input (fp32|bf16)" "$OUT/bench_gpu.txt" || true
  cat "$OUT/fit_rtfm_summary.txt" "$OUT/ddp.txt"
  grep -h "wall" "$OUT"/fit_rtfm_gpu*.txt || true
  tail -n 1 "$OUT/bench_rtfm.txt" "$OUT/bench_trx_cache.txt"
} | tee "$OUT/summary.txt"
