#!/usr/bin/env bash
# ON PAPER: Hadoop Streaming cannot be installed on the machine bx is tested on (no Debian package,
# no Maven Central). The contract it relies on is tested: test/e2e/agg.test.ts runs
#   bx-agg --partial --keyed … | sort | bx-agg --merge --keyed --sorted …
# which is what this job does with HDFS splits for the pipe and Hadoop's shuffle for the sort.
#
# Input: NDJSON in HDFS, one record per line (Hadoop splits files at line boundaries, so a CSV
# header would reach only the first split; run bx-extract before uploading). Every node needs bx
# on its PATH (or ship it with -archives). Settings are shell words, as on a command line.
#
#   CLEAN='--type Sales:decimal' AGG='--by Region,Category --agg revenue=sum:Sales,p90:Sales' \
#   examples/scale-out/hadoop-streaming.sh /data/sales/2026-11 /tmp/bx-agg-out > result.ndjson
set -euo pipefail
in=${1:?usage: hadoop-streaming.sh HDFS_INPUT HDFS_OUTPUT}
out=${2:?usage: hadoop-streaming.sh HDFS_INPUT HDFS_OUTPUT}
: "${AGG:?AGG is not set (bx-agg arguments)}"
CLEAN=${CLEAN:-}
REDUCES=${REDUCES:-4}

# map: one bx-clean | bx-agg --partial per input split, emitting KEY<TAB>STATE (KEY is the group
#      key as canonical JSON, so Hadoop's key/value split at the first TAB is exact);
# combine: merge the states of one map task's output per key, still keyed (less to shuffle);
# reduce: the shuffle hands each reducer its keys grouped, so --sorted merges in constant memory.
#      Reducers emit keyed states again, not final records: the last step below puts the groups
#      of all reducers into bx-agg's own key order, which makes the output byte-identical to
#      one process.
# Hadoop runs -mapper/-reducer without a shell, so the pipes go into small scripts shipped with
# -files; AGG and CLEAN are written into them as they are, shell words and all.
scripts=$(mktemp -d)
trap 'rm -rf -- "$scripts"' EXIT
{
  echo '#!/usr/bin/env bash'
  echo 'set -o pipefail'
  if [ -n "$CLEAN" ]; then echo "bx-clean -q $CLEAN | bx-agg -q --partial --keyed $AGG"; else echo "bx-agg -q --partial --keyed $AGG"; fi
} > "$scripts/bx-map.sh"
printf '#!/usr/bin/env bash\nexec bx-agg -q --merge --keyed --sorted --partial %s\n' "$AGG" > "$scripts/bx-reduce.sh"
chmod +x "$scripts"/*.sh

mapred streaming \
  -D mapreduce.job.name=bx-agg \
  -D mapreduce.job.reduces="$REDUCES" \
  -D stream.num.map.output.key.fields=1 \
  -files "$scripts/bx-map.sh,$scripts/bx-reduce.sh" \
  -input "$in" \
  -output "$out" \
  -mapper bx-map.sh \
  -combiner bx-reduce.sh \
  -reducer bx-reduce.sh

# One state per group is left, spread over the reducers' part files: merging them is cheap.
hdfs dfs -cat "$out/part-*" | eval "bx-agg -q --merge --keyed $AGG"
