#!/usr/bin/env bash
# Every GPU figure of issue 12 in one run on one H100/H200, within 8 minutes (each step has its own time limit):
# the GPU-only tests (fused loss, flash-attn), peak memory full vs chunked vs fused at 64 × 1024, MFU per seed
# vocabulary, full logits / compile off / SDPA / `audiobits fit` at vocab 16 385, and the loader against the
# measured training rate. Paste its output into benchmarks/RESULTS.md with the card's name.
#
#   bash benchmarks/gpu_check.sh                 # uses .venv/bin/python, or PYTHON=/path/to/python
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)
step() { echo; echo "=== $1 (limit $2 s, at $(( $(date +%s) - START )) s)"; }

step "machine" 10
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
timeout 10 "$PY" - <<'PY'
import importlib.util, torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
for name in ("flash_attn", "liger_kernel", "triton"):
    print(f"{name}: {'installed' if importlib.util.find_spec(name) else 'not installed'}")
PY

step "GPU-only tests (fused loss vs chunked, flash-attn vs reference)" 50
timeout 50 "$PY" -m pytest -q -rs tests/test_chunked_loss.py tests/test_model.py 2>&1 | tail -5

step "peak memory of one training step, 6 L × 512, batch 64 × 1024, bf16" 100
timeout 100 "$PY" benchmarks/memory.py --n-layer 6 --batch 64 --vocab 65537 16385

step "training throughput and MFU, 64 × 1024, bf16 (20 timed steps after 5)" 240
timeout 240 "$PY" benchmarks/train_throughput.py --preset default --steps 25 --warmup 5 | tee /tmp/gpu_check_train.txt

step "loader against the measured training rate (4 workers, as the seed configs)" 45
RATE=$(awk -F: '/mimi_all \(vocab 16385\), default path/ {split($2, a, " "); if (a[1] ~ /^[0-9.]+$/) print a[1]}' /tmp/gpu_check_train.txt)
timeout 45 "$PY" benchmarks/loader_throughput.py --workers 4 --batches 100 ${RATE:+--model-tokens-per-sec $RATE}

echo; echo "=== done in $(( $(date +%s) - START )) s"
