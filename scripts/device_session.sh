#!/bin/bash
# One session of the weights campaign on the lent GPU (docs/TRAINING.md). Before, here:
#   .venv/bin/python scripts/stage_device_data.py configs/gpu_*.yaml
# then through the device tool, from the repository root, with carry [".device_data"]:
#   bash scripts/device_session.sh MINUTES [train options, e.g. --set data.batch_size=64]
# It trains the three task models side by side on the one GPU, each warm-started from the
# shipped weights, for MINUTES of wall time (each fits its cosine to that), then leaves in
# $OUT their fp16 weights, validation records and one log: 7 files, within the tool's 8.
# Copy the weights that beat the shipped ones over them, then `csrnet evaluate --record`.
set -u
minutes=${1:-8}
py=${PYTHON:-python3}  # the device image's python3 holds torch
out=${OUT:-runs/device_out}
runs="multiscale_sr blind_denoise blind_jpeg"
mkdir -p "$out"
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1
log=$out/session.log
{
  date
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} >"$log" 2>&1
for run in $runs; do
  "$py" -m csrnet.cli train "configs/gpu_$run.yaml" --run-dir "runs/gpu_$run" --no-progress \
    --set "time_budget_minutes=$minutes" --set "data.root=.device_data/gpu_$run" \
    --set 'data.exclude_overlaps_with=[]' "${@:2}" >"runs/gpu_$run.log" 2>&1 &
done
wait
for run in $runs; do
  {
    echo "== gpu_$run"
    cat "runs/gpu_$run.log"
    "$py" -m csrnet.cli export "runs/gpu_$run" -o "$out/gpu_$run.safetensors" --checkpoint last
  } >>"$log" 2>&1
  cp "runs/gpu_$run/metrics.jsonl" "$out/gpu_$run.metrics.jsonl" 2>>"$log"
done
date >>"$log"
