#!/usr/bin/env bash
# The Table-1 grid's rows, exported as they grow: results/grid14/partial.csv (read by no table or test until its
# block is complete) and, once the tuning files exist, them and the tuning's validation rows (tuning_val.csv).
# Reads a snapshot of the store, never the live file.
# With --table1 (when a block is complete) it also writes results/grid14/table1.csv, the test rows alone, which the
# tables are rendered from (results/grid14/render.sh); the tuning's validation rows stay in partial.csv.
# Paths are taken from where it is called (e.g. ../tb14/runs/grid.sqlite from the main checkout).
# Usage: bash results/grid14/export.sh STORE [TUNING_DIR] [--table1]
set -euo pipefail
usage="usage: export.sh STORE [TUNING_DIR] [--table1]"
table1=no
positional=()
for arg in "$@"; do
  case "$arg" in
    --table1) table1=yes ;;
    -*) echo "export.sh: unknown option $arg ($usage)" >&2; exit 2 ;;
    *) positional+=("$(realpath -m "$arg")") ;;
  esac
done
[ "${#positional[@]}" -ge 1 ] && [ "${#positional[@]}" -le 2 ] || { echo "export.sh: $usage" >&2; exit 2; }
store=${positional[0]}
tuning=${positional[1]:-}
[ -f "$store" ] || { echo "export.sh: no store at $store" >&2; exit 2; }
[ -z "$tuning" ] || [ -d "$tuning" ] || { echo "export.sh: no tuning folder at $tuning" >&2; exit 2; }
cd "$(dirname "$0")/../.."
dfqbench=${DFQBENCH:-.venv/bin/dfqbench}
workdir=$(mktemp -d)
trap 'rm -r "$workdir"' EXIT
snapshot=$workdir/grid.sqlite
.venv/bin/python -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).backup(sqlite3.connect(sys.argv[2]))" \
  "$store" "$snapshot"
"$dfqbench" export --store "$snapshot" --to results/grid14/partial.csv
if [ "$table1" = yes ]; then
  "$dfqbench" export --store "$snapshot" --evaluation test --to results/grid14/table1.csv
fi
tuned() {  # whether the tuning folder has every model's tuning file
  for model in canvas56a_vit canvas56a_deit canvas56a_swin; do
    [ -f "$tuning/tuning_sardfq_${model}_4w4a_bench.json" ] || return 1
  done
}
if [ -n "$tuning" ] && tuned; then
  cp "$tuning"/tuning_sardfq_*_4w4a_bench.json results/grid14/
  # the tuning is complete: its validation rows alone, which its table is rendered from (render.sh)
  "$dfqbench" export --store "$snapshot" --evaluation val --to results/grid14/tuning_val.csv
fi
