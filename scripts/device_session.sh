#!/bin/bash
# One session of the weights campaign on the lent GPU (docs/TRAINING.md): several runs side by
# side on the one GPU, then their fp16 weights, one metrics.jsonl (validation records, each
# tagged with its run) and one log in $OUT (at most 8 files, the device tool's limit). If every
# run has failed a minute in, it stops there, so the session can be retried.
#
#   bash scripts/device_session.sh sr MINUTES [train options]
#   bash scripts/device_session.sh restoration MINUTES [train options]
#     SR x2, x4 and x8 (sr), or the blind denoiser and JPEG q10 (restoration), each
#     warm-started from the shipped weights (docs/TRAINING.md, next steps), for MINUTES of
#     wall time (each fits its cosine to that). Stage first:
#       .venv/bin/python scripts/stage_device_data.py configs/gpu_multiscale_sr.yaml \
#           configs/gpu_blind_denoise.yaml configs/gpu_blind_jpeg.yaml
#     and carry [".device_data/gpu_multiscale_sr"] (sr) or [".device_data/gpu_blind_denoise",
#     ".device_data/gpu_blind_jpeg"] (restoration): with the shipped weights in the tree, both
#     together would exceed the tool's 64 MiB. Then, here: `csrnet evaluate FILE --sets ... --record`,
#     and ship what beats the shipped file.
#
#   bash scripts/device_session.sh ablation STEPS|MINUTESm [train options]
#     Tables I and V at x2: CSRnet-1S/2S/3S/Dense (Dense is B8R6) and B4R6/B6R6, from scratch
#     for the same STEPS (configs/gpu_ablation.yaml), then scored there on Set5 and the staged
#     test sets (the log's end). With MINUTESm (e.g. 6.5m) the six first run 30 steps side by
#     side to time them, and STEPS is what the slowest fits in MINUTES (90%, less 40 s of
#     start-up): still one step count for all. Stage first:
#       .venv/bin/python scripts/stage_device_data.py configs/gpu_ablation.yaml --test-sets Set14
#     and carry [".device_data/ablation_gpu"] (BSD100 too would exceed the tool's 64 MiB beside the
#     shipped weights). Then, here: `csrnet report --weights-dir` on the six files.
set -u
plan=${1:?sr, restoration or ablation}
amount=${2:?minutes (sr, restoration), or steps or MINUTESm (ablation)}
py=${PYTHON:-python3}  # the device image's python3 holds torch
out=${OUT:-runs/device_out}
declare -A args  # run name -> its train arguments
case $plan in
  sr)
    for scale in 2 4 8; do
      args[gpu_sr_x$scale]="configs/gpu_sr_x$scale.yaml --set data.root=.device_data/gpu_multiscale_sr"
    done
    ;;&
  restoration)
    args[gpu_blind_denoise]="configs/gpu_blind_denoise.yaml --set data.root=.device_data/gpu_blind_denoise"
    args[gpu_jpeg_q10]="configs/gpu_jpeg_q10.yaml --set data.root=.device_data/gpu_blind_jpeg"
    ;;&
  sr | restoration)
    common=(--set "time_budget_minutes=$amount")
    limit=$(( ${amount%.*} * 60 + 120 ))  # a run that hangs is killed 2 minutes after its budget
    ;;
  ablation)
    for variant in CSRnet-1S:ablation_gpu_1s CSRnet-2S:ablation_gpu_2s CSRnet-3S:ablation_gpu_3s \
      CSRnet-Dense:ablation_gpu_dense B4R6:depth_gpu_b4r6 B6R6:depth_gpu_b6r6; do
      run=${variant#*:}
      args[$run]="configs/gpu_ablation.yaml --set name=$run --set model.preset=${variant%%:*}"
    done
    common=(--set data.root=.device_data/ablation_gpu)
    limit=540  # equal steps, no time budget: size STEPS to end well inside the call's limit
    [[ $amount == *m ]] && limit=$("$py" -c "print(int(${amount%m} * 60 + 60))")
    ;;
  *) echo "usage: device_session.sh sr|restoration MINUTES | ablation STEPS|MINUTESm" >&2; exit 2 ;;
esac
runs=$(printf '%s\n' "${!args[@]}" | sort)
mkdir -p "$out" runs
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
log=$out/session.log
{
  date
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} >"$log" 2>&1
train_bg() {  # train_bg SECONDS RUN DIR [options]: one run in the background, its log DIR.log
  local seconds=$1 run=$2 dir=$3
  shift 3
  # shellcheck disable=SC2086  # args[$run] is a config path and options, split on purpose
  timeout "$seconds" "$py" -m csrnet.cli train ${args[$run]} --run-dir "$dir" --no-progress \
    --set 'data.exclude_overlaps_with=[]' "${common[@]}" "$@" >"$dir.log" 2>&1 &
}
if [ "$plan" = ablation ]; then
  steps=$amount
  if [[ $amount == *m ]]; then  # time the six side by side, then fit one step count to them
    for run in $runs; do
      rm -rf "runs/calib_$run"  # throwaway: a second call on a warm machine finds the last
      train_bg 240 "$run" "runs/calib_$run" --set steps=30 --set val_every=0 \
        --set time_budget_minutes=60 "${@:3}"
    done
    wait
    per_step=$(grep -ho '[0-9.]* s/step' runs/calib_*.log | sort -n | tail -1 | cut -d' ' -f1)
    if [ -z "$per_step" ]; then
      for run in $runs; do echo "== calib_$run"; cat "runs/calib_$run.log"; done >>"$log"
      cat "$log"
      exit 1
    fi
    steps=$("$py" -c "print(int((${amount%m} * 60 - 40) * 0.9 / $per_step))")
    echo "timing: slowest of six side by side $per_step s/step; $steps steps each fit ${amount%m} min" >>"$log"
  fi
  common+=(--set "steps=$steps")
fi
pids=()
for run in $runs; do
  train_bg "$limit" "$run" "runs/$run" "${@:3}"
  pids+=($!)
done
sleep 60
failed=0  # runs that have ended a minute in, neither done (0) nor stopped by the budget (130)
for pid in "${pids[@]}"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    wait "$pid"
    code=$?
    [ "$code" = 0 ] || [ "$code" = 130 ] || failed=$((failed + 1))
  fi
done
if [ "$failed" = "${#pids[@]}" ]; then
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
if [ "$plan" = ablation ]; then  # score on Set5 and whichever test sets were staged
  sets=Set5
  for name in Set14 BSD100; do [ -d ".device_data/ablation_gpu/$name" ] && sets+=",$name"; done
  "$py" -m csrnet.cli evaluate "$out"/*.safetensors --sets "$sets" --scale 2 \
    --data-root .device_data/ablation_gpu --no-progress >>"$log" 2>&1
fi
date >>"$log"
cat "$log"
