#!/usr/bin/env bash
# The Table-1 grid, start or resume, in one command: run it in the background from a checkout pinned at the
# grid's commit that has its own installed copy (.venv, by .ci/bootstrap), e.g.
#   git worktree add ../tb14 7bf017c && (cd ../tb14 && bash .ci/bootstrap)
#   cd ../tb14 && mkdir -p runs && nohup bash ../main/results/grid14/run.sh >> runs/grid14.log 2>&1 &
# Every step resumes: finished cells are read from the store, cells in flight from their checkpoints. A store that
# does not exist yet (a new machine) is first filled with the committed export (grid14/partial.csv), so that no
# finished cell is computed twice. The steps are those of results/README, "The Table-1 grid".
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
pinned=7bf017cf3f68010517fe447951c679fd9a0171d2
[ "$(git rev-parse HEAD)" = "$pinned" ] || { echo "run.sh: run it from a checkout at ${pinned:0:7}" >&2; exit 2; }
[ -z "$(git status --porcelain --untracked-files=no)" ] || { echo "run.sh: the pinned checkout has changes" >&2; exit 2; }
dfq=.venv/bin/dfqbench
mkdir -p runs
# the pinned commit's rows do not record the processor (later commits do): note the machine of every start; a
# cell started after a line's time and before the next line's ran on that line's machine
if .venv/bin/python - "$here/machines.csv" <<'PY'
import csv, datetime, platform, sys, torch
info = dict((k.strip(), v.strip()) for k, v in (l.split(":", 1) for l in open("/proc/cpuinfo") if ":" in l))
line = [datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), info.get("vendor_id", ""),
        info.get("model name", platform.processor()), torch.backends.cpu.get_cpu_capability(), "run.sh at the start"]
csv.writer(open(sys.argv[1], "a", newline=""), lineterminator="\n").writerow(line)
PY
then :; else echo "run.sh: the machine was not recorded in $here/machines.csv" >&2; fi
if [ ! -f runs/grid.sqlite ]; then
  "$dfq" import --from "$here/partial.csv" --store runs/grid.sqlite
fi

MODELS=canvas56a_vit,canvas56a_deit,canvas56a_swin
ROWS=fp,noise,real,psaq-vit,psaq-vit-v2,sardfq,mimiq,maskaq
for C in ptq hsad masked-hsad block-recon; do ROWS=$ROWS,noise+$C,real+$C; done
R="$dfq --threads 1 run --executor ray --cpus-per-cell 1 --profile bench --store runs/grid.sqlite"
T() { echo "--tuning runs/tuning/tuning_sardfq_$1_4w4a_bench.json"; }
tuned() {  # whether every model has its tuning file (the last tune writes them one after the other)
  for model in ${MODELS//,/ }; do [ -f "runs/tuning/tuning_sardfq_${model}_4w4a_bench.json" ] || return 1; done
}
tune() { "$dfq" --threads 1 tune --methods sardfq --bits 4w4a --profile bench --store runs/grid.sqlite "$@"; }

echo "== step 0: block 1's 4w4a seed-0 column without sardfq ($(date -u +%FT%TZ))"
$R --methods "${ROWS/,sardfq/}" --models canvas56a_vit --bits 4w4a --seeds 0 --save-models runs/students

echo "== SARDFQ's alpha1 on the validation split, two processes of about equal remaining cells ($(date -u +%FT%TZ))"
if ! tuned; then
  # the (model, seed) pairs with cells left, dealt to two processes (the most cells left first, to the lighter one);
  # a process checks the store before each cell, so a pair's finished cells are read, not computed again
  pairs=$(.venv/bin/python - "$MODELS" <<'PY'
import sqlite3, sys
from dfqbench.runner.tune import grid_specs
labels = [spec.label for spec in grid_specs("sardfq")]
db = sqlite3.connect("runs/grid.sqlite")
left = {}
for model in sys.argv[1].split(","):
    for seed in (0, 1, 2):
        done = db.execute(f"SELECT COUNT(*) FROM cells WHERE method IN ({','.join('?' * len(labels))}) AND model = ? "
                          "AND seed = ? AND bits = '4w4a' AND profile = 'bench' AND evaluation = 'val' "
                          "AND status = 'ok'", (*labels, model, seed)).fetchone()[0]
        if done < len(labels):
            left[f"{model}:{seed}"] = len(labels) - done
halves, load = [[], []], [0, 0]
for pair, n in sorted(left.items(), key=lambda item: -item[1]):
    lighter = load.index(min(load))
    halves[lighter].append(pair)
    load[lighter] += n
print(" ".join(halves[0]))
print(" ".join(halves[1]))
PY
  )
  mapfile -t halves <<<"$pairs"
  part() {  # a pair that fails is said here and left to the last tune below, which computes what is missing
    for pair in $1; do
      tune --models "${pair%:*}" --seeds "${pair#*:}" --out-dir runs/tuning-split || echo "run.sh: tuning $pair failed"
    done
  }
  echo "tuning pairs left: ${halves[0]:-none} | ${halves[1]:-none}"
  part "${halves[0]:-}" > runs/tune-a.log 2>&1 &
  part "${halves[1]:-}" > runs/tune-b.log 2>&1 &
  wait
  # every cell is in the store now: this call computes nothing and writes the three tuning files over seeds 0-2
  tune --models "$MODELS" --seeds 0,1,2 --out-dir runs/tuning
fi

echo "== block 1 ($(date -u +%FT%TZ))"
$R --methods "$ROWS" --models canvas56a_vit --bits 3w3a,4w4a --seeds 0,1,2,3,4 $(T canvas56a_vit) --save-models runs/students
echo "== block 2 ($(date -u +%FT%TZ))"
$R --methods "$ROWS" --models canvas56a_deit,canvas56a_swin --bits 3w3a,4w4a --seeds 0,1,2 $(T canvas56a_deit) $(T canvas56a_swin)
echo "== block 3 ($(date -u +%FT%TZ))"
$R --methods "$ROWS" --models canvas56a_vit --bits 5w5a,4w8a --seeds 0,1,2 $(T canvas56a_vit)
echo "== block 4 ($(date -u +%FT%TZ))"
$R --methods psaq-vit,psaq-vit-v2,sardfq,mimiq,maskaq --ablations --models canvas56a_deit --bits 3w3a --seeds 0,1,2 \
  $(T canvas56a_deit)
echo "== block 5 ($(date -u +%FT%TZ))"
$R --methods "$ROWS" --models canvas56a_deit,canvas56a_swin --bits 5w5a,4w8a --seeds 0,1,2 $(T canvas56a_deit) $(T canvas56a_swin)
echo "== done ($(date -u +%FT%TZ))"
