#!/usr/bin/env bash
# Scale-out over ssh with GNU parallel: one job per part file on any of the hosts, then one merge.
# This is the recipe test/e2e/scaleout.test.ts runs against two network-namespace hosts.
#
#   HOSTS=1/h1,1/h2 SSH='ssh -F cluster.cfg' \
#   CLEAN='--type Sales:decimal' AGG='--by Region --agg revenue=sum:Sales' \
#   examples/scale-out/parallel-ssh.sh parts/part-*.csv > by-region.ndjson
#
# Each part (all in one directory) travels to a host with rsync over ssh (--transferfile), runs
#   bx-extract PART | bx-clean $CLEAN | bx-agg --partial $AGG
# there, and its partial state comes back beside the part as PART-without-extension.state
# (--return). bx-agg --merge $AGG of all the states, on this machine, prints the same bytes as
#   bx-extract all | bx-clean $CLEAN | bx-agg $AGG
# would in one process. bx must be installed at the same path on every host (--env PATH sends
# this PATH along).
#
# Settings (environment):
#   HOSTS    GNU parallel --sshlogin list, e.g. 2/node1,2/node2 (N/ = jobs at once there). Required.
#   SSH      ssh command for parallel --ssh (default: ssh)
#   CLEAN    bx-clean arguments (default: none: bx-clean is left out)
#   AGG      bx-agg arguments, the same for --partial and --merge, as shell words (quote a field
#            name with a space: AGG="--by Region --agg 'n=count_distinct:Customer ID'"). Required.
#   WORKDIR  where parts land on a host (default: /tmp/bx-scaleout-$USER)
#   RETRIES  attempts per part; a failed one moves to another host (default: 2)
#   JOBLOG   parallel --joblog file (default: a temporary one); a second pass logs to JOBLOG.again
#   KEEP=1   keep the returned .state files here (default: removed after the merge)
#   KEEP_REMOTE=1  leave parts and states in WORKDIR on the hosts (default: --cleanup removes them)
# Exit: 0, 64 bad settings, 66 a part is missing, 69 no GNU parallel; when a part fails on every
# host tried: its job's exit code if that is a bx one (65 bad data, ...), else 75 (temporary
# failure: ssh 255, killed); else the merge's own code.
set -euo pipefail
prog=parallel-ssh.sh
die() { echo "$prog: $2" >&2; exit "$1"; }

[ -n "${HOSTS:-}" ] || die 64 'HOSTS is not set (e.g. HOSTS=1/h1,1/h2)'
[ -n "${AGG:-}" ] || die 64 'AGG is not set (e.g. AGG="--by Region --agg sum:Sales")'
[ $# -gt 0 ] || die 64 'no part files given'
command -v parallel > /dev/null || die 69 'GNU parallel is not installed'
dir=$(dirname -- "$1")
parts=()
for p in "$@"; do
  [ -f "$p" ] || die 66 "$p: no such part file"
  [ "$(dirname -- "$p")" = "$dir" ] || die 64 "$p: all parts must be in one directory ($dir)"
  parts+=("$(basename -- "$p")")
done
log=${JOBLOG:+$(realpath -m -- "$JOBLOG")}
scratch=$(mktemp -d)
trap 'rm -rf -- "$scratch"' EXIT
log=${log:-$scratch/joblog}
cd -- "$dir"

stage="bx-extract -q {}"
[ -z "${CLEAN:-}" ] || stage+=" | bx-clean -q $CLEAN"
# The state is written under a temporary name and renamed: a job killed half-way leaves no
# .state for --return to bring back, only a .state.tmp that stays on that host.
stage+=" | bx-agg -q --partial $AGG > {.}.state.tmp && mv {.}.state.tmp {.}.state"

cleanup=--cleanup
[ "${KEEP_REMOTE:-}" != 1 ] || cleanup=
state_of() { local p; for p in "$@"; do printf '%s\n' "${p%.*}.state"; done; }

run_parts() { # JOBLOG PART...
  local joblog=$1; shift
  parallel --will-cite --sshlogin "$HOSTS" --ssh "${SSH:-ssh}" --env PATH \
    --workdir "${WORKDIR:-/tmp/bx-scaleout-${USER:-$(id -un)}}" --retries "${RETRIES:-2}" \
    --joblog "$joblog" $cleanup --transferfile {} --return {.}.state \
    "set -o pipefail; $stage" ::: "$@"
}

mapfile -t states < <(state_of "${parts[@]}")
rm -f -- "${states[@]}"
status=0
run_parts "$log" "${parts[@]}" || status=$?
# parallel reports a job by the remote command's status only: when a host dies after a job has
# finished but before --return has copied its state back, the job still counts as done. So
# check every state and run the missing parts once more.
missing=()
for p in "${parts[@]}"; do [ -f "$(state_of "$p")" ] || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "$prog: ${#missing[@]} part(s) came back without a state (${missing[*]}); running them again" >&2
  status=0
  run_parts "$log.again" "${missing[@]}" || status=$?
  for p in "${missing[@]}"; do
    [ ! -f "$(state_of "$p")" ] || continue
    # The joblog's last line for the part: Exitval is column 7, the command the last one.
    code=$(awk -F '\t' -v p="$p" 'NR > 1 && index($9, p) { c = $7 } END { print c + 0 }' "$log.again")
    [ "$code" -ge 64 ] && [ "$code" -le 78 ] || code=75
    die "$code" "$p: failed on every host tried (exit $code; see the joblog and the messages above)"
  done
fi

code=0
eval "bx-agg -q --merge $AGG \"\${states[@]}\"" || code=$?
[ "${KEEP:-}" = 1 ] || rm -f -- "${states[@]}"
exit $code
