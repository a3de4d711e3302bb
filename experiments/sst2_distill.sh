#!/usr/bin/env bash
# Reproduce the distilled tanh RNN of docs/results/classification.md: eight teacher runs (the
# tanh config, seeds 0-3, with torch.nn's init and with orthogonal recurrent weights), then four
# students (configs/classify/sst2-rnn-distill.toml, seeds 0-3), then the table. Two runs at a time
# (about 12 minutes each on 2 cores: some 75 minutes in all). A run that already exists under the
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
for pair in "0 1" "2 3"; do
  for s in $pair; do
    train "sst2-rnn-distill-s$s" --config configs/classify/sst2-rnn-distill.toml --set seed=$s &
  done
  wait
done
group() { ls -d "$RUNS"/classify/*-"$1"-s[0-3] | paste -sd, -; }
"$PY" experiments/selection_table.py --split valid \
  --group "tanh RNN (config)=$(group sst2-rnn)" \
  --group "tanh RNN, orthogonal=$(group sst2-rnn-orth)" \
  --group "tanh RNN, distilled=$(group sst2-rnn-distill)"
