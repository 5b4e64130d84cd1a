#!/bin/sh
# The issue 24 matrix: every market of the family on seeds the controller was not tuned on
# (7, 11), scenario base; the mixed market under the mixed scenario; and the shortfall-cost
# sweep (0, 0.25, 0.5, 1 x the lead's value) on the default market. Full size (180
# segments, 90 steered days). Writes bench/simulation24/<market>_<scenario>_<seed>_<cost>.json;
# `python bench/simulation24_table.py` prints the Markdown tables in bench/RESULTS.md.
set -e
cd "$(dirname "$0")/.."
OUT="${OUT:-bench/simulation24}"  # OUT=bench/simulation24b: the controller's re-run
mkdir -p "$OUT"
run() {  # market scenario seed shortfall-cost
  out="$OUT/$1_$2_$3_$4.json"
  [ -s "$out" ] && return 0
  .venv/bin/leadflow simulate --market "$1" --scenario "$2" --seed "$3" \
    --shortfall-cost "$4" --json > "$out.tmp" && mv "$out.tmp" "$out"
}
for seed in 7 11; do
  for market in mixed power hill adstock lagged; do
    run "$market" base "$seed" 0.25
  done
done
run mixed mixed 7 0.25
for cost in 0 0.5 1; do
  run mixed base 7 "$cost"
done
