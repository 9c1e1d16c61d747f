#!/usr/bin/env bash
# Every GPU figure in one run on one H100/H200: the GPU-only tests (fused loss, flash-attn), peak memory full vs
# chunked vs fused at 64 × 1024, MFU per seed vocabulary, full logits / whole-model compile / compile off / SDPA /
# `audiobits fit` at vocab 16 385, the loader against the measured training rate, a profile of the step at two
# vocabularies, and compress's coding rate beside the KV-cached forward loop on the CPU and on the card. About 5
# minutes on an H200 (2026-12-04); each step has its own time limit, 9 min 45 s in all. Paste its output into
# benchmarks/RESULTS.md with the card's name.
#
#   bash benchmarks/gpu_check.sh     # .venv/bin/python if there is one, else python3; or PYTHON=/path/to/python
set -u
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
START=$(date +%s)
step() { echo; echo "=== $1 (limit $2 s, at $(( $(date +%s) - START )) s)"; }

step "machine" 10
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
timeout 10 "$PY" - <<'PY'
import importlib, importlib.util, torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
for name in ("flash_attn", "liger_kernel", "triton", "lightning", "jsonargparse", "constriction"):
    if importlib.util.find_spec(name) is None:
        print(f"{name}: not installed")
    else:
        print(f"{name}: {getattr(importlib.import_module(name), '__version__', 'installed')}")
PY

step "GPU-only tests (fused loss vs chunked, flash-attn vs reference)" 50
timeout 50 "$PY" -m pytest -q -rs tests/test_chunked_loss.py tests/test_model.py 2>&1 | tail -5

step "peak memory of one training step, 6 L × 512, batch 64 × 1024, bf16" 60
timeout 60 "$PY" benchmarks/memory.py --n-layer 6 --batch 64 --vocab 65537 16385

step "training throughput and MFU, 64 × 1024, bf16 (20 timed steps after 5)" 240
timeout 240 "$PY" benchmarks/train_throughput.py --preset default --steps 25 --warmup 5 | tee /tmp/gpu_check_train.txt

step "loader against the measured training rate (4 workers, as the seed configs)" 45
RATE=$(awk -F: '/mimi_all \(vocab 16385\), default path/ {split($2, a, " "); if (a[1] ~ /^[0-9.]+$/) print a[1]}' /tmp/gpu_check_train.txt)
timeout 45 "$PY" benchmarks/loader_throughput.py --workers 4 --batches 100 ${RATE:+--model-tokens-per-sec $RATE}

step "where the step's device time goes at vocab 16 385 and 65 537 (profiled default path)" 90
timeout 90 "$PY" benchmarks/train_throughput.py --preset default --profile --vocab 16385 65537 --steps 15

step "compress: coding on the CPU (its format) beside the KV-cached forward loop, CPU and card" 90
timeout 90 bash -c "'$PY' benchmarks/compress_throughput.py --devices cpu --lanes 16 --tokens 200 --threads 8 \
    --shapes 'demo mimi_all 2x64' 'seed mimi_all 6x512' &&
  '$PY' benchmarks/compress_throughput.py --devices cuda --lanes 16 256 1024 --tokens 200 \
    --shapes 'demo mimi_all 2x64' 'seed mimi_all 6x512'"

echo; echo "=== done in $(( $(date +%s) - START )) s"
