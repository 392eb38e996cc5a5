#!/usr/bin/env bash
# Instructions per exported record, per report, counted by callgrind: a
# CPU measurement that does not depend on how loaded the machine is (wall
# and CPU seconds on a shared machine do; hardware counters are not
# available on every VM).
#
# Starts ONE simulator (`SIM_EXE simulate`, not under valgrind) on a small
# world, then for each exporter binary given and each report runs, under
# `valgrind --tool=callgrind` (the exporter only):
#   1. a first sync of that report alone (`sync --reports R --format parquet`,
#      fresh output and state per binary), and
#   2. a second sync of it with nothing changed (the fixed cost: start-up,
#      state, the probe requests),
# and prints per report: rows, requests of the first sync (the simulator's
# count), instructions of the first sync (Ir), of the second, and
# (first - second) / rows, the instructions per exported record.
#
# Usage:
#   benches/callgrind.sh [LABEL=]/path/to/intercom-export [[LABEL=]/path/to/another ...]
#   e.g. benches/callgrind.sh before=/tmp/ie-dba11c5 now=target/release/intercom-export
# Environment (defaults in brackets):
#   SIM_EXE       the binary whose `simulate` serves the world
#                 [target/release/intercom-export]
#   CG_CONTACTS [3000] CG_CONVERSATIONS [600] CG_PARTS [10]
#   CG_COMPANIES [2000] CG_TICKETS [2000]      the world (as the export bench)
#   CG_REPORTS    comma list [users,leads,conversations,conversation_parts,
#                 tickets,conversation_contacts]
#   CG_OUT        where callgrind.out files and outputs are kept
#                 [a new temporary directory]; compare two binaries with
#                 `callgrind_annotate --inclusive=yes FILE | head -60`.
# The same world and flags give byte-identical simulator answers, so the
# counts move only with the exporter (and a little with thread timing:
# repeated runs agree within about 1 %). "Ir" excludes quanta's clock
# calibration (see ir_of).
set -euo pipefail

if [ $# -lt 1 ]; then
    sed -n '2,/^set -e/p' "$0" | sed '$d'
    exit 2
fi
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
SIM_EXE=${SIM_EXE:-target/release/intercom-export}
[ -x "$SIM_EXE" ] || { echo "SIM_EXE=$SIM_EXE is not an executable; build it (cargo build --release) or set SIM_EXE" >&2; exit 2; }
REPORTS=${CG_REPORTS:-users,leads,conversations,conversation_parts,tickets,conversation_contacts}
OUT=${CG_OUT:-$(mktemp -d)}
mkdir -p "$OUT"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
"$SIM_EXE" simulate --port "$PORT" \
    --contacts "${CG_CONTACTS:-3000}" --conversations "${CG_CONVERSATIONS:-600}" \
    --parts "${CG_PARTS:-10}" --companies "${CG_COMPANIES:-2000}" --tickets "${CG_TICKETS:-2000}" \
    >"$OUT/simulator.log" 2>&1 &
SIM_PID=$!
trap 'kill "$SIM_PID" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "$BASE/__sim/stats" >/dev/null && break
    sleep 0.2
done
curl -sf "$BASE/__sim/stats" >/dev/null || { echo "the simulator did not start; see $OUT/simulator.log" >&2; exit 1; }

# Total instructions of a callgrind output file, less what quanta's clock
# calibration took (governor's clock: it spins until the TSC agrees with the
# OS clock, so its count follows wall time, 2 to 20 million instructions
# under valgrind, and would be the largest noise in these figures).
ir_of() {
    local total spin
    total=$(awk '/^(summary|totals):/ { print $2; exit }' "$1")
    spin=$(callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
        awk '/quanta::Clock as core::default::Default>::default/ { gsub(",", "", $1); print $1; exit }')
    echo $((total - ${spin:-0}))
}

# One exporter run under callgrind: EXE LABEL REPORT DIR -> summary on stdout.
sync_under_callgrind() {
    local exe=$1 file=$2 report=$3 dir=$4
    INTERCOM_ACCESS_TOKEN=bench RUST_LOG=warn \
        valgrind --tool=callgrind --callgrind-out-file="$file" -q \
        "$exe" sync --reports "$report" --format parquet \
        --base-url "$BASE" --output "$dir/out" --state "$dir/state.db" 2>"$file.stderr"
}

printf '%-24s %-22s %8s %8s %14s %14s %10s\n' report binary rows requests "Ir first" "Ir no-change" "Ir/record"
for arg in "$@"; do
    # LABEL=PATH names a binary in the table; PATH alone is named by its file name.
    if [[ $arg == *=* ]]; then label=${arg%%=*}; exe=${arg#*=}; else label=$(basename "$arg"); exe=$arg; fi
    dir="$OUT/$label"
    rm -rf "$dir"
    mkdir -p "$dir"
    IFS=, read -ra reports <<<"$REPORTS"
    for report in "${reports[@]}"; do
        curl -sf -X POST -H 'content-type: application/json' -d '{}' "$BASE/__sim/reset-stats" >/dev/null
        summary=$(sync_under_callgrind "$exe" "$dir/$report.first.cg" "$report" "$dir")
        requests=$(curl -sf "$BASE/__sim/stats" | jq '.total')
        rows=$(awk -v r="$report" '$1 == r { print $2; exit }' <<<"$summary")
        sync_under_callgrind "$exe" "$dir/$report.again.cg" "$report" "$dir" >/dev/null
        first=$(ir_of "$dir/$report.first.cg")
        again=$(ir_of "$dir/$report.again.cg")
        per=$(awk -v f="$first" -v a="$again" -v r="${rows:-0}" 'BEGIN { if (r > 0) printf "%.0f", (f - a) / r; else print "-" }')
        printf '%-24s %-22s %8s %8s %14s %14s %10s\n' "$report" "$label" "${rows:-?}" "$requests" "$first" "$again" "$per"
    done
done
echo "callgrind files: $OUT"
