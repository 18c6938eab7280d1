#!/usr/bin/env bash
# Every table of the Table-1 grid from its committed long-format CSV: the leaderboard (Markdown and CSV; column
# groups 3w3a, 4w4a, 5w5a, 4w8a, sub-columns the models), the gap view, one ablation table per method (once block
# 4's rows are in), the claims tables, the table of SARDFQ's alpha1 tuning (from
# grid14/tuning_val.csv), and README's leaderboard block (between its table1 markers). Re-rendering gives the same
# bytes. Run it when a block is complete:
#   bash results/grid14/export.sh STORE TUNING_DIR --table1      (table1.csv: the test rows alone)
#   bash results/grid14/render.sh
# Usage: bash results/grid14/render.sh [CSV [OUT_DIR]]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd -P)
csv=$(realpath -m "${1:-$root/results/grid14/table1.csv}")  # paths are taken from where it is called
out=$(realpath -m "${2:-$root/results/grid14}")
cd "$root"
[ -f "$csv" ] || [ $# -eq 0 ] || { echo "render.sh: no CSV at $csv" >&2; exit 2; }
dfq=${DFQBENCH:-.venv/bin/dfqbench}
mkdir -p "$out"
# SARDFQ's alpha1 tuning: its validation rows (every value, seed and model) as one table
"$dfq" table --from results/grid14/tuning_val.csv --format md -o "$out/tuning_sardfq_4w4a_bench.md"
[ -f "$csv" ] || { echo "render.sh: no $csv yet (export it with --table1 when a block is complete)," \
  "rendered the tuning table only"; exit 0; }
ROWS=fp,noise,real,psaq-vit,psaq-vit-v2,sardfq[tuned],mimiq,maskaq
for C in ptq hsad masked-hsad block-recon; do ROWS=$ROWS,noise+$C,real+$C; done
for format in md csv; do
  "$dfq" table --from "$csv" --methods "$ROWS" --format $format -o "$out/leaderboard_table1.$format"
  "$dfq" table --from "$csv" --methods "$ROWS" --view gap --format $format -o "$out/gap_table1.$format"
  "$dfq" table --from "$csv" --view claims --claims dfqbench/tables/claims.csv --format $format \
    -o "$out/claims_table1.$format"
done
# one ablation table per method whose ablation rows (block 4: variants, at 3w3a on the DeiT) are in the CSV
ablated=$(.venv/bin/python - "$csv" <<'PY'
import sys
import pandas as pd
rows = pd.read_csv(sys.argv[1])
rows = rows[(rows.model == "canvas56a_deit") & (rows.bits == "3w3a")]
print(" ".join(sorted({label.split("[")[0] for label in rows.method if "=" in label})))
PY
)
echo "ablation tables: ${ablated:-none yet (block 4)}"
for m in $ablated; do
  "$dfq" table --from "$csv" --methods "$m,$m[*" --models canvas56a_deit --bits 3w3a --format md \
    -o "$out/ablation_${m}_table1.md"
done
# README's leaderboard section shows the grid's leaderboard: the block between its table1 markers is the file
if [ "$out" = "$root/results/grid14" ]; then
  .venv/bin/python - README.md table1 "$out/leaderboard_table1.md" <<'PY'
import sys
path, name, source = sys.argv[1:]
text, begin, end = open(path).read(), f"<!-- {name} -->\n", f"<!-- /{name} -->"
if text.count(begin) != 1 or text.count(end) != 1:
    sys.exit(f"render.sh: {path} needs one '{begin.strip()}' ... '{end}' block for the leaderboard")
head, rest = text.split(begin)
tail = rest.split(end)[1]
open(path, "w").write(head + begin + open(source).read() + end + tail)
print(f"wrote {source} into {path} ({begin.strip()})")
PY
fi
