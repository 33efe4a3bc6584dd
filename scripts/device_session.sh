#!/bin/bash
# One session of the weights campaign on the lent GPU (docs/TRAINING.md): several runs side by
# side on the one GPU, then their fp16 weights, their scores, one metrics.jsonl (validation
# records, each tagged with its run) and one log in $OUT (at most 8 files, the device tool's
# limit). A campaign run that has died a minute in (the fast path failing there) is retried on
# the eager step with host patches for the minutes left (FALLBACK=0: not retried); when every
# run has died a minute in and none is retried (the ablation), it stops there, so the session
# can be retried.
#
#   bash scripts/device_session.sh campaign MINUTES CONFIG... [train options]
#     Each CONFIG (a recipe of configs/ without .yaml: gpu_sr_x4, gpu_jpeg_q10, ...) trains
#     warm-started from the shipped weights for MINUTES of wall time (each fits its cosine to
#     that) on the fast path (base/gpu.yaml: one CUDA graph per step, patches drawn on the
#     GPU). First (BENCH=0 skips it, ~1 minute) the eager, graph (as the recipes train),
#     graph-tuned (cuDNN autotuned) and graph-half-nchw (the half scale in NCHW) steps are
#     timed side by side at batch 16-128, their loss curves compared over 200 steps (batch
#     32), and the kernels of a batch-32 eager step with the half scale in NCHW profiled,
#     with its convolution backwards by shape (BENCH=profile: batch 32, the profile, and each
#     convolution alone in channels_last and NCHW). Where graph-tuned or graph-half-nchw was
#     >2% faster than graph at batch 32, the runs train the faster of them (BENCH=0: as the
#     recipes say). Last, every file is scored there on
#     its task's staged test sets (per-image rows in scores.csv). Here, first:
#       .venv/bin/python scripts/stage_device_data.py configs/gpu/sr_x4.yaml ... (the CONFIGs)
#       .venv/bin/python scripts/device_tree.py park configs/gpu/sr_x4.yaml ... (the CONFIGs)
#       .venv/bin/python scripts/device_tree.py size .device_data/campaign    # <= 64 MiB
#     and carry [".device_data/campaign"]; after it, `device_tree.py unpark`, then here
#     `csrnet evaluate FILE --sets ... --record`, and ship what gains >= 0.05 dB.
#     CONTINUE=1 (a second call on the still-held machine, with the same carry; BENCH
#     defaults to 0 then): each CONFIG's run of the first call, still in runs/ there, is first
#     exported over the file the recipe starts from (its init_from), so the runs go on from
#     where they ended.
#
#   bash scripts/device_session.sh ablation STEPS|MINUTESm [train options]
#     Tables I and V at x2: CSRnet-1S/2S/3S/Dense (Dense is B8R6) and B4R6/B6R6, from scratch
#     for the same STEPS (configs/gpu/ablation.yaml), then scored there on Set5 and the staged
#     test sets (the log's end). With MINUTESm (e.g. 6.5m) the six first run 30 steps side by
#     side to time them, and STEPS is what the slowest fits in MINUTES (90%, less 40 s of
#     start-up): still one step count for all. Stage first:
#       .venv/bin/python scripts/stage_device_data.py configs/gpu/ablation.yaml \
#           --out .device_data/ablation_gpu --test-sets Set14
#     and carry [".device_data/ablation_gpu"]. Then, here: `csrnet report --weights-dir`.
set -u
plan=${1:?campaign or ablation}
amount=${2:?minutes (campaign), or steps or MINUTESm (ablation)}
shift 2
py=${PYTHON:-python3}  # the device image's python3 holds torch
out=${OUT:-runs/device_out}
declare -A args  # run name -> its train arguments
case $plan in
  campaign)
    root=${DATA:-.device_data/campaign}
    while [ $# -gt 0 ] && [[ $1 != -* ]]; do
      [ -f "$root/$1.args" ] || { echo "$1: not staged in $root (stage_device_data.py)" >&2; exit 2; }
      args[$1]="configs/gpu/${1#gpu_}.yaml $(cat "$root/$1.args")"
      shift
    done
    [ ${#args[@]} -ge 1 ] && [ ${#args[@]} -le 5 ] || {
      echo "give 1 to 5 CONFIGs (each brings back a weights file; the tool returns 8 files)" >&2
      exit 2
    }
    common=(--set "time_budget_minutes=$amount")
    limit=$("$py" -c "print(int($amount * 60 + 120))")  # a hung run dies 2 minutes late
    ;;
  ablation)
    root=${DATA:-.device_data/ablation_gpu}
    for variant in CSRnet-1S:ablation_gpu_1s CSRnet-2S:ablation_gpu_2s CSRnet-3S:ablation_gpu_3s \
      CSRnet-Dense:ablation_gpu_dense B4R6:depth_gpu_b4r6 B6R6:depth_gpu_b6r6; do
      run=${variant#*:}
      args[$run]="configs/gpu/ablation.yaml $(cat "$root/ablation_gpu.args") --set name=$run"
      args[$run]+=" --set model.preset=${variant%%:*}"
    done
    common=()
    limit=540  # equal steps, no time budget: size STEPS to end well inside the call's limit
    [[ $amount == *m ]] && limit=$("$py" -c "print(int(${amount%m} * 60 + 60))")
    ;;
  *) echo "usage: device_session.sh campaign MINUTES CONFIG... | ablation STEPS|MINUTESm" >&2; exit 2 ;;
esac
runs=$(printf '%s\n' "${!args[@]}" | sort)
mkdir -p "$out" runs
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
log=$out/session.log
{
  date
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
  "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
  ls -l src/csrnet/pretrained  # which weights travelled (docs/TRAINING.md: the 64 MiB)
  du -sh "$root"
} >"$log" 2>&1
train_bg() {  # train_bg SECONDS RUN DIR [options]: one run in the background, its log DIR.log
  local seconds=$1 run=$2 dir=$3
  shift 3
  # shellcheck disable=SC2086  # args[$run] is a config path and options, split on purpose
  timeout "$seconds" "$py" -m csrnet train ${args[$run]} --run-dir "$dir" --no-progress \
    "${common[@]}" "$@" >"$dir.log" 2>&1 &
}
if [ "$plan" = campaign ] && [ "${CONTINUE:-0}" = 1 ]; then  # from the last call's runs
  declare -A continued  # init_from -> the run exported over it
  for run in $runs; do
    init=$("$py" -c "from csrnet.training.config import load_config
print(load_config('configs/gpu/${run#gpu_}.yaml').init_from)")
    if [ -n "${continued[$init]:-}" ]; then
      echo "CONTINUE=1: $run and ${continued[$init]} both start from $init" | tee -a "$log" >&2
      exit 2
    fi
    continued[$init]=$run
    "$py" -m csrnet export "runs/$run" -o "$init" --checkpoint last >>"$log" 2>&1 || {
      echo "CONTINUE=1: no run of $run to continue on this machine (runs/$run)" | tee -a "$log" >&2
      exit 2
    }
  done
fi
timing=${BENCH:-1}
[ "${CONTINUE:-0}" = 1 ] && timing=${BENCH:-0}  # timed in the first call already
if [ "$plan" = campaign ] && [ "$timing" != 0 ]; then  # eager and graph side by side
  task=sr
  [ -d "$root/T91" ] || task=denoise
  bench=(--batches 32,16,64,128 --check-steps 200)
  # batch 32, the profile and each convolution alone in both layouts (~45 s)
  [ "${BENCH:-1}" = profile ] && bench=(--batches 32 --layers)
  timeout 170 "$py" benchmarks/train_throughput.py --devices cuda \
    --engines eager,graph,graph-tuned,graph-half-nchw --tasks "$task" "${bench[@]}" \
    --seconds 2 --data-root "$root" --profile eager-half-nchw >>"$log" 2>&1
  # the recipes train graph; the runs train the fastest graph-* variant at batch 32 instead
  # where it came out more than 2% faster than graph
  best=$(awk -F'|' '$5 + 0 == 32 && $8 + 0 > 0 { gsub(/ /, "", $4); s[$4] = $8 + 0 }
    END { b = "graph"; for (e in s) if (e ~ /^graph-/ && s[e] < 0.98 * s["graph"] && s[e] < s[b]) b = e
      print (s["graph"] > 0 ? b : "graph") }' "$log")
  case $best in
    graph-tuned) common+=(--set cudnn_benchmark=true) ;;
    graph-half-nchw) common+=(--set half_scale_nchw=true) ;;
  esac
  [ "$best" != graph ] && echo "$best faster than graph at batch 32: the runs train it" >>"$log"
fi
if [ "$plan" = ablation ]; then
  steps=$amount
  if [[ $amount == *m ]]; then  # time the six side by side, then fit one step count to them
    for run in $runs; do
      rm -rf "runs/calib_$run"  # throwaway: a second call on a warm machine finds the last
      train_bg 240 "$run" "runs/calib_$run" --set steps=30 --set val_every=0 \
        --set time_budget_minutes=60 "$@"
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
started=$SECONDS
for run in $runs; do
  rm -rf "runs/$run"  # a second call on a warm machine finds the last one's
  train_bg "$limit" "$run" "runs/$run" "$@"
  pids+=($!)
done
sleep 60
failed=0  # runs that have ended a minute in, neither done (0) nor stopped by the budget (130)
names=($runs)
for i in "${!pids[@]}"; do
  kill -0 "${pids[$i]}" 2>/dev/null && continue
  wait "${pids[$i]}"
  code=$?
  { [ "$code" = 0 ] || [ "$code" = 130 ]; } && continue
  run=${names[$i]}
  if [ "$plan" = campaign ] && [ "${FALLBACK:-1}" != 0 ]; then
    # the fast path died: the rest of the minutes on the eager step and host patches, the
    # path of runs 9-33 (FALLBACK=0 turns this off)
    left=$("$py" -c "print(max(0.5, round($amount - ($SECONDS - $started) / 60, 2)))")
    {
      echo "== $run died on its recipe's path (exit $code); retried on engine eager, sampler host, for $left min. Its log:"
      cat "runs/$run.log"
    } >>"$log"
    rm -rf "runs/$run"
    train_bg "$limit" "$run" "runs/$run" "$@" --set engine=eager --set data.sampler=host \
      --set "time_budget_minutes=$left"
  else
    failed=$((failed + 1))
  fi
done
if [ "$failed" = "${#pids[@]}" ]; then
  for run in $runs; do echo "== $run (died)"; cat "runs/$run.log"; done >>"$log"
  cat "$log"
  exit 1
fi
wait
: >"$out/metrics.jsonl"
rm -f "$out/scores.csv"
for run in $runs; do
  {
    echo "== $run"
    cat "runs/$run.log"
    "$py" -m csrnet export "runs/$run" -o "$out/$run.safetensors" --checkpoint last
  } >>"$log" 2>&1
  sed "s/^{/{\"run\": \"$run\", /" "runs/$run/metrics.jsonl" >>"$out/metrics.jsonl" 2>>"$log"
done
score() {  # score SETS FILE...: evaluate there, per-image rows appended to scores.csv
  local sets=$1 staged=""
  shift
  for name in ${sets//,/ }; do [ -d "$root/$name" ] && staged+="${staged:+,}$name"; done
  [ -n "$staged" ] && [ $# -gt 0 ] || return 0
  "$py" -m csrnet evaluate "$@" --sets "$staged" --data-root "$root" --no-progress \
    --csv runs/scores.csv >>"$log" 2>&1
  if [ -s "$out/scores.csv" ]; then tail -n +2 runs/scores.csv; else cat runs/scores.csv; fi \
    >>"$out/scores.csv"
}
if [ "$plan" = ablation ]; then
  score Set5,Set14,BSD100 "$out"/*.safetensors
else
  declare -A files  # task -> exported files
  for run in $runs; do
    task=$("$py" -c "import yaml; print(yaml.safe_load(open('runs/$run/config.yaml'))['task']['task'])")
    [ -f "$out/$run.safetensors" ] && files[$task]+=" $out/$run.safetensors"
  done
  # shellcheck disable=SC2086  # lists of files, split on purpose
  score Set5,Set14 ${files[sr]:-}
  # shellcheck disable=SC2086
  score Classic5,LIVE1 ${files[jpeg]:-}
  # shellcheck disable=SC2086
  score Set12,BSD68 ${files[denoise]:-}
fi
date >>"$log"
cat "$log"
