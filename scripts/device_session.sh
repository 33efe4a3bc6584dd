#!/bin/bash
# One session of the weights campaign on the lent GPU (docs/TRAINING.md). Before, here:
#   .venv/bin/python scripts/stage_device_data.py configs/gpu_multiscale_sr.yaml \
#       configs/gpu_blind_denoise.yaml configs/gpu_blind_jpeg.yaml
# then through the device tool, from the repository root, with carry [".device_data"]:
#   bash scripts/device_session.sh MINUTES [train options, e.g. --set data.batch_size=64]
# It trains four models side by side on the one GPU (multi-scale SR, SR x2, blind denoising,
# blind deblocking), each warm-started from the shipped weights, for MINUTES of wall time
# (each fits its cosine to that), then leaves in $OUT their fp16 weights, one metrics.jsonl
# (validation records, each tagged with its run) and one log: 6 files, within the tool's 8.
# If every run has died a minute in, it stops there, so the session can be retried.
# Then, here: `csrnet evaluate FILE --sets ... --record` and keep what beats the shipped ones.
set -u
minutes=${1:-8}
py=${PYTHON:-python3}  # the device image's python3 holds torch
out=${OUT:-runs/device_out}
# run name -> staged data folder (gpu_sr_x2 trains on the multi-scale SR images)
declare -A data=(
  [gpu_multiscale_sr]=gpu_multiscale_sr [gpu_sr_x2]=gpu_multiscale_sr
  [gpu_blind_denoise]=gpu_blind_denoise [gpu_blind_jpeg]=gpu_blind_jpeg
)
runs="gpu_multiscale_sr gpu_sr_x2 gpu_blind_denoise gpu_blind_jpeg"
mkdir -p "$out" runs
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
log=$out/session.log
{
  date
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} >"$log" 2>&1
pids=()
for run in $runs; do
  # a run that hangs is killed two minutes after its budget, so the others still export
  timeout "$((${minutes%.*} * 60 + 120))" "$py" -m csrnet.cli train "configs/$run.yaml" --run-dir "runs/$run" --no-progress \
    --set "time_budget_minutes=$minutes" --set "data.root=.device_data/${data[$run]}" \
    --set 'data.exclude_overlaps_with=[]' "${@:2}" >"runs/$run.log" 2>&1 &
  pids+=($!)
done
sleep 60
alive=0
for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=$((alive + 1)); done
if [ "$alive" = 0 ]; then
  for run in $runs; do echo "== $run (died)"; cat "runs/$run.log"; done >>"$log"
  cat "$log"
  exit 1
fi
wait
: >"$out/metrics.jsonl"
for run in $runs; do
  {
    echo "== $run"
    cat "runs/$run.log"
    "$py" -m csrnet.cli export "runs/$run" -o "$out/$run.safetensors" --checkpoint last
  } >>"$log" 2>&1
  sed "s/^{/{\"run\": \"$run\", /" "runs/$run/metrics.jsonl" >>"$out/metrics.jsonl" 2>>"$log"
done
date >>"$log"
cat "$log"
