#!/bin/bash
# Tables I and V at x2 on two CPU cores (docs/TRAINING.md): CSRnet-1S/2S/3S/Dense
# (Dense is B8R6) and B4R6/B6R6, each from scratch for the same STEPS (configs/cpu/ablation.yaml),
# in two lanes of one thread each, the costliest first so the lanes end together. Each run can
# be cut off and continued: running the script again resumes every unfinished run.
#
#   bash scripts/cpu_ablation.sh [STEPS]     # default: the config's steps
#
# Then: csrnet export runs/NAME -o FILE --checkpoint last, and csrnet report --weights-dir.
set -u
steps=(${1:+--set "steps=$1"})
csrnet=${CSRNET:-.venv/bin/csrnet}
export OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1

train() {  # train RUN PRESET: one run, resumed when it has a checkpoint
  local resume=()
  [ -f "runs/$1/config.yaml" ] && resume=(--resume)
  nice "$csrnet" train configs/cpu/ablation.yaml --run-dir "runs/$1" --no-progress "${resume[@]}" \
    --set "name=$1" --set "model.preset=$2" "${steps[@]}" >>"runs/$1.log" 2>&1 ||
    echo "$1 failed: see runs/$1.log" >&2
}

mkdir -p runs
# s/step with one thread: Dense 1.26, 3S 1.15, 2S 1.03, B6R6 0.88, 1S 0.74, B4R6 0.62
(train ablation_cpu_dense CSRnet-Dense; train ablation_cpu_2s CSRnet-2S; train depth_cpu_b4r6 B4R6) &
(train ablation_cpu_3s CSRnet-3S; train depth_cpu_b6r6 B6R6; train ablation_cpu_1s CSRnet-1S) &
wait
