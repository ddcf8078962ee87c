#!/usr/bin/env bash
# ON PAPER here: Slurm is installable (Debian slurm-wlm 22.05) and an array job + afterok merge
# ran byte-identical on two network-namespace nodes when the stack was chosen (NEXT-STACK §7), but this
# script is not run by the test suite. It assumes a file system shared by the nodes (the usual
# Slurm setup): parts are read and states written in place.
#
#   CLEAN='--type Sales:decimal' AGG='--by Region --agg revenue=sum:Sales' \
#   examples/scale-out/slurm-array.sh parts/ result.ndjson
# One array task per parts/*.csv (bx-extract | bx-clean | bx-agg --partial), then one merge job
# that starts only when every task has succeeded (--dependency=afterok). A failed task fails
# the merge job (DependencyNeverSatisfied): rerun it with `sbatch --array=<i>` and resubmit.
set -euo pipefail
parts=${1:?usage: slurm-array.sh PARTS_DIR RESULT}
result=${2:?usage: slurm-array.sh PARTS_DIR RESULT}
: "${AGG:?AGG is not set (bx-agg arguments)}"
parts=$(realpath -- "$parts")
result=$(realpath -m -- "$result")
n=$(find "$parts" -maxdepth 1 -name '*.csv' | wc -l)
[ "$n" -gt 0 ] || { echo "slurm-array.sh: no .csv parts in $parts" >&2; exit 66; }
mkdir -p "$parts/states" "$parts/logs"

# The two job scripts are written beside the parts (the nodes see the same file system) and read
# AGG and CLEAN from the environment sbatch exports, so nothing is quoted twice.
cat > "$parts/bx-partial.sbatch" <<'JOB'
#!/usr/bin/env bash
# One array task: its part by index in a sorted list (a rerun of task i reads the same file).
# The state is written under a temporary name and renamed: a killed task leaves no .state.
set -euo pipefail
cd "$PARTS"
mapfile -t ps < <(ls -1 -- *.csv | LC_ALL=C sort)
p=${ps[$SLURM_ARRAY_TASK_ID]}
s="states/${p%.csv}.state"
if [ -n "${CLEAN:-}" ]; then
  eval "bx-extract -q \"\$p\" | bx-clean -q $CLEAN | bx-agg -q --partial $AGG" > "$s.tmp"
else
  eval "bx-extract -q \"\$p\" | bx-agg -q --partial $AGG" > "$s.tmp"
fi
mv -- "$s.tmp" "$s"
JOB
cat > "$parts/bx-merge.sbatch" <<'JOB'
#!/usr/bin/env bash
# Runs only after every array task succeeded (afterok); still checks that no state is missing.
set -euo pipefail
have=$(ls -1 -- "$PARTS"/states/*.state | wc -l)
[ "$have" = "$NPARTS" ] || { echo "bx-merge: $have of $NPARTS states" >&2; exit 75; }
eval "bx-agg -q --merge $AGG \"\$PARTS\"/states/*.state" > "$RESULT.tmp"
mv -- "$RESULT.tmp" "$RESULT"
JOB

export PARTS="$parts" NPARTS="$n" RESULT="$result" AGG CLEAN="${CLEAN:-}"
array=$(sbatch --parsable --array="0-$((n - 1))" --job-name=bx-partial --export=ALL \
  --output="$parts/logs/%A_%a.out" "$parts/bx-partial.sbatch")
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes --job-name=bx-merge \
  --export=ALL --output="$parts/logs/merge_%j.out" "$parts/bx-merge.sbatch")
echo "submitted: array job $array ($n parts), merge job $merge -> $result"
