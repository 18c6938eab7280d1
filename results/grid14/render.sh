#!/usr/bin/env bash
# Every table of the Table-1 grid from its committed long-format CSV: the leaderboard (Markdown and CSV; column
# groups 3w3a, 4w4a, 5w5a, 4w8a, sub-columns the models), the gap view, one ablation table per method, the
# claims tables, and the table of SARDFQ's alpha1 tuning (from grid14/tuning_val.csv). Re-rendering gives the
# same bytes. Run it when a block is complete:
#   bash results/grid14/export.sh STORE TUNING_DIR --table1      (table1.csv: the test rows alone)
#   bash results/grid14/render.sh
# Usage: bash results/grid14/render.sh [CSV [OUT_DIR]]
set -euo pipefail
cd "$(dirname "$0")/../.."
csv=${1:-results/grid14/table1.csv}
out=${2:-results/grid14}
dfq=${DFQBENCH:-.venv/bin/dfqbench}
mkdir -p "$out"
# SARDFQ's alpha1 tuning: its validation rows (every value, seed and model) as one table
"$dfq" table --from results/grid14/tuning_val.csv --format md -o "$out/tuning_sardfq_4w4a_bench.md"
[ -f "$csv" ] || { echo "render.sh: no $csv yet (export it with --table1 when a block is complete); rendered the tuning table only"; exit 0; }
ROWS=fp,noise,real,psaq-vit,psaq-vit-v2,sardfq[tuned],mimiq,maskaq
for C in ptq hsad masked-hsad block-recon; do ROWS=$ROWS,noise+$C,real+$C; done
for format in md csv; do
  "$dfq" table --from "$csv" --methods "$ROWS" --format $format -o "$out/leaderboard_table1.$format"
  "$dfq" table --from "$csv" --methods "$ROWS" --view gap --format $format -o "$out/gap_table1.$format"
  "$dfq" table --from "$csv" --view claims --claims dfqbench/tables/claims.csv --format $format \
    -o "$out/claims_table1.$format"
done
for m in psaq-vit psaq-vit-v2 sardfq mimiq maskaq; do
  "$dfq" table --from "$csv" --methods "$m,$m[*" --models canvas56a_deit --bits 3w3a --format md -o "$out/ablation_${m}_table1.md" \
    || echo "no ablation rows of $m yet"
done
