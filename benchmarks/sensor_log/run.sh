#!/usr/bin/env bash
# Sensor-log acceptance experiment, through the CLI alone (see README in this folder's
# make_log.py docstring): fit a learned model with 2 latent coordinates and a hybrid model
# (declared cartpole prior over the unmeasured velocities + residual) to a noisy, jittered,
# positions-only CartPole log, then score both on held-out id and ood-state logs.
#
#   bash benchmarks/sensor_log/run.sh [BUDGET_SECONDS]   (default 240 per model)
#
# Outputs go to $OUT (default runs/sensor_log): data/, learned/, hybrid/, predictions, metrics.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
OUT="${OUT:-$ROOT/runs/sensor_log}"
BUDGET="${1:-240}"
HWM="${HWM:-$ROOT/.venv/bin/hybridwm}"
PY="${PY:-$ROOT/.venv/bin/python}"
mkdir -p "$OUT"

"$PY" "$HERE/make_log.py" --out "$OUT/data"

# Validation rollouts of 100 steps (2 s): whole 12-15 s runs open-loop are too long a test
# for the early epochs of a model, so early stopping would keep the initial weights.
# 1. learned: the log's own column names, given as flags; 2 free latent coordinates
FLAGS=(--time time_ms --time-scale 0.001 --states cart_pos_m,pole_angle_rad
       --actions motor_cmd --episode run)
"$HWM" fit --data "$OUT/data/train.csv" "${FLAGS[@]}" --model learned --latent-dim 2 \
  --horizon 20 --validation-horizon 100 --encoder-window 8 --max-time "$BUDGET" --threads 1 \
  --no-progress --out "$OUT/learned"

# 2. hybrid: the declared prior (states x, theta, v, omega; v, omega unmeasured) + residual,
#    columns renamed to the prior's names by a mapping file
"$HWM" fit --data "$OUT/data/train.csv" --columns "$HERE/columns.toml" --model hybrid \
  --prior "$HERE/cartpole_prior.toml" --horizon 20 --validation-horizon 100 --encoder-window 8 \
  --max-time "$BUDGET" --threads 1 --no-progress --out "$OUT/hybrid"

for split in id ood-state; do
  for init in encoder optimize; do
    echo "== learned on $split (init=$init)"
    "$HWM" rollout --model "$OUT/learned" --data "$OUT/data/$split.csv" "${FLAGS[@]}" \
      --init "$init" --out "$OUT/pred-learned-$split-$init.csv"
    echo "== hybrid on $split (init=$init)"
    "$HWM" rollout --model "$OUT/hybrid" --data "$OUT/data/$split.csv" \
      --columns "$HERE/columns.toml" --init "$init" --out "$OUT/pred-hybrid-$split-$init.csv"
  done
  "$HWM" evaluate --model "$OUT/learned" --data "$OUT/data/$split.csv" "${FLAGS[@]}" \
    --out "$OUT/metrics-learned-$split.json"
  "$HWM" evaluate --model "$OUT/hybrid" --data "$OUT/data/$split.csv" \
    --columns "$HERE/columns.toml" --out "$OUT/metrics-hybrid-$split.json"
done
