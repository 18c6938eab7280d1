#!/usr/bin/env bash
# The Table-1 grid's rows, exported as they grow: results/grid14/partial.csv (read by no table or test until its
# block is complete) and the tuning files once they exist. Reads a snapshot of the store, never the live file.
# With --table1 (when a block is complete) it also writes results/grid14/table1.csv, the test rows alone, which the
# tables are rendered from (results/grid14/render.sh); the tuning's validation rows stay in partial.csv.
# Usage: bash results/grid14/export.sh STORE [TUNING_DIR] [--table1]
set -euo pipefail
cd "$(dirname "$0")/../.."
store=${1:?usage: export.sh STORE [TUNING_DIR]}
dfqbench=${DFQBENCH:-.venv/bin/dfqbench}
snapshot=$(mktemp -d)/grid.sqlite
.venv/bin/python -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))" \
  "$store" "$snapshot"
"$dfqbench" export --store "$snapshot" --to results/grid14/partial.csv
if [ "${3:-}" = "--table1" ]; then
  "$dfqbench" export --store "$snapshot" --evaluation test --to results/grid14/table1.csv
fi
if [ -n "${2:-}" ] && compgen -G "$2/tuning_sardfq_*_4w4a_bench.json" >/dev/null; then
  cp "$2"/tuning_sardfq_*_4w4a_bench.json results/grid14/
fi
rm -r "$(dirname "$snapshot")"
