#!/bin/sh
# The issue #11 table: every scenario on three seeds the controller was not tuned on
# (tuned on seed 42 and the test seeds 5 and 6), full size (180 segments, 90 steered days).
# Writes bench/simulation/<scenario>_<seed>.json; `python bench/simulation_table.py` makes
# the Markdown table in bench/RESULTS.md from them.
set -e
cd "$(dirname "$0")/.."
for seed in 7 11 23; do
  for scenario in base account-cap unprofitable drift mixed; do
    .venv/bin/leadflow simulate --scenario "$scenario" --seed "$seed" --json \
      > "bench/simulation/${scenario}_${seed}.json"
  done
done
