#!/usr/bin/env bash
# Reproduce the distilled tanh RNN of docs/results/classification.md: eight teacher runs (the
# tanh config, seeds 0-3, with torch.nn's init and with orthogonal recurrent weights), the config
# with seeds 4-5 as well (the pairs of the students' seeds 4-5), six students
# (configs/classify/sst2-rnn-distill.toml, seeds 0-5), then the table. Two runs at a time (about
# 12 minutes each on 2 cores: some 100 minutes in all). A run that already exists under the
# runs root (same name) is not trained again, so an interrupted script can simply be re-run
# (finish an interrupted run itself with `rnnlab train --resume RUN`).
#   RNNLAB_DATA=/path/to/data bash experiments/sst2_distill.sh
set -euo pipefail
RNNLAB=${RNNLAB:-.venv/bin/rnnlab}
PY=${PY:-.venv/bin/python}
RUNS=${RNNLAB_RUNS:-runs}
export OMP_NUM_THREADS=1

train() {  # train NAME ARGS...: one run, unless a finished run of that name exists
  local name=$1; shift
  if ls -d "$RUNS"/classify/*-"$name"/final.json >/dev/null 2>&1; then
    echo "have $name"; return
  fi
  "$RNNLAB" train classify "$@" --set name="\"$name\"" --no-report > /dev/null
  echo "trained $name"
}

for s in 0 1 2 3; do
  train "sst2-rnn-s$s" --config configs/classify/sst2-rnn.toml --set seed=$s &
  train "sst2-rnn-orth-s$s" --config configs/classify/sst2-rnn.toml --set seed=$s \
    --set model.recurrent_init='"orthogonal"' &
  wait
done
train "sst2-rnn-s4" --config configs/classify/sst2-rnn.toml --set seed=4 &
train "sst2-rnn-s5" --config configs/classify/sst2-rnn.toml --set seed=5 &
wait
for pair in "0 1" "2 3" "4 5"; do
  for s in $pair; do
    train "sst2-rnn-distill-s$s" --config configs/classify/sst2-rnn-distill.toml --set seed=$s &
  done
  wait
done
group() {  # group NAME FIRST LAST: the runs of seeds FIRST..LAST, in seed order
  for s in $(seq "$2" "$3"); do ls -d "$RUNS"/classify/*-"$1"-s"$s"; done | paste -sd, -
}
"$PY" experiments/selection_table.py --split valid \
  --group "tanh RNN, distilled=$(group sst2-rnn-distill 0 5)" \
  --group "tanh RNN (config)=$(group sst2-rnn 0 5)" \
  --group "the 8 teachers=$(group sst2-rnn 0 3),$(group sst2-rnn-orth 0 3)"
