#!/usr/bin/env bash
# The Table-1 grid's rows, exported as they grow: results/grid14/partial.csv (read by no table or test until its
# block is complete) and the tuning files once they exist. Reads a snapshot of the store, never the live file.
# Usage: bash results/grid14/export.sh STORE [TUNING_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
store=${1:?usage: export.sh STORE [TUNING_DIR]}
dfqbench=${DFQBENCH:-.venv/bin/dfqbench}
snapshot=$(mktemp -d)/grid.sqlite
.venv/bin/python -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))" \
  "$store" "$snapshot"
"$dfqbench" export --store "$snapshot" --to results/grid14/partial.csv
if [ -n "${2:-}" ] && compgen -G "$2/tuning_sardfq_*_4w4a_bench.json" >/dev/null; then
  cp "$2"/tuning_sardfq_*_4w4a_bench.json results/grid14/
fi
rm -r "$(dirname "$snapshot")"
