#!/usr/bin/env bash
# What is left of each block of the Table-1 grid, and about how long it takes: `run --dry-run` for each block's
# command of grid14/run.sh (computes nothing, writes nothing). From this checkout (or any later one: the pinned
# commit has no --dry-run; the cell ids agree as long as no plugin's version has changed since 7bf017c).
# Usage: bash results/grid14/status.sh STORE [--rows]     (--rows: the line per row and model too)
set -euo pipefail
usage="usage: status.sh STORE [--rows]"
store=""
rows=no
for arg in "$@"; do
  case "$arg" in
    --rows) rows=yes ;;
    -*) echo "status.sh: unknown option $arg ($usage)" >&2; exit 2 ;;
    *) [ -z "$store" ] || { echo "status.sh: $usage" >&2; exit 2; }; store=$(realpath -m "$arg") ;;
  esac
done
[ -n "$store" ] || { echo "status.sh: $usage" >&2; exit 2; }
[ -f "$store" ] || { echo "status.sh: no store at $store" >&2; exit 2; }
cd "$(dirname "$0")/../.."
dfq=${DFQBENCH:-.venv/bin/dfqbench}
ROWS=fp,noise,real,psaq-vit,psaq-vit-v2,sardfq,mimiq,maskaq
for C in ptq hsad masked-hsad block-recon; do ROWS=$ROWS,noise+$C,real+$C; done
T() { echo "--tuning results/grid14/tuning_sardfq_$1_4w4a_bench.json"; }
block() {  # NAME, then the block's run options
  local name=$1
  shift
  echo "== $name"
  if [ "$rows" = yes ]; then
    "$dfq" --threads 1 run --profile bench --store "$store" --dry-run "$@"
  else
    "$dfq" --threads 1 run --profile bench --store "$store" --dry-run "$@" | grep "^grid:" \
      || { echo "status.sh: the dry run of block $name printed no grid line" >&2; exit 1; }
  fi
}
block "1: ViT, 3w3a and 4w4a, seeds 0-4" --methods "$ROWS" --models canvas56a_vit --bits 3w3a,4w4a \
  --seeds 0,1,2,3,4 $(T canvas56a_vit)
block "2: DeiT and Swin, 3w3a and 4w4a, seeds 0-2" --methods "$ROWS" --models canvas56a_deit,canvas56a_swin \
  --bits 3w3a,4w4a --seeds 0,1,2 $(T canvas56a_deit) $(T canvas56a_swin)
block "3: ViT, 5w5a and 4w8a, seeds 0-2" --methods "$ROWS" --models canvas56a_vit --bits 5w5a,4w8a --seeds 0,1,2 \
  $(T canvas56a_vit)
block "4: the methods' ablations, DeiT, 3w3a, seeds 0-2" --methods psaq-vit,psaq-vit-v2,sardfq,mimiq,maskaq \
  --ablations --models canvas56a_deit --bits 3w3a --seeds 0,1,2 $(T canvas56a_deit)
block "5: DeiT and Swin, 5w5a and 4w8a, seeds 0-2" --methods "$ROWS" --models canvas56a_deit,canvas56a_swin \
  --bits 5w5a,4w8a --seeds 0,1,2 $(T canvas56a_deit) $(T canvas56a_swin)
