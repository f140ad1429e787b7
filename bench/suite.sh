#!/usr/bin/env bash
# bench/suite.sh — Dispatch and its peers (raw epoll, Boost.Beast, Node ws, Socket.IO) under the
# same load in one run, on this machine: each server pinned to CPU 0, the load generator to CPU 1.
#
#   bench/suite.sh            quick: a subset, under 5 minutes; prints the table
#   bench/suite.sh --full     everything in docs/BENCHMARKS.md (about 30 minutes); also rewrites
#                             the results section of docs/BENCHMARKS.md and its charts
#   options: --docs (rewrite the docs after a quick run too), --no-docs, --peers dispatch,beast,...
#            --only echo,fanout,slow,idle,handshake,batch,cluster,history   --window S   --warmup S
#            (cluster: bench/cluster_bench.py, two nodes and Redis; history: bench/history_bench.py,
#            history's cost per message and recovery; each its own results directory. Run alone,
#            they need only the load generator: no peers built, no node_modules)
#            --repeat N (N runs per figure, the median reported)
#
# Writes bench/results/<date>/ (results.jsonl: one JSON line per run with its commands;
# table.md; charts as PNG and their data). Needs bench/install-deps (gnuplot, npm ci) and a
# built ./build/dispatch; the C++ peers and the load generator are built into build-bench/.
#
# Like bench/sanity.sh, it runs in its own session whose scheduler autogroup gets nice
# $BENCH_NICE (default -20, when allowed): with autogroup scheduling (Debian's default) a plain
# `nice` only ranks processes inside one session. What other work still took from each run is
# reported as run-queue wait (from /proc/PID/task/*/schedstat). Environment:
#   DISPATCH=path/to/dispatch   BENCH_BUILD=dir with loadgen, beast_echo, raw_epoll
#   BENCH_NICE=-20   DISPATCH_JWT_SECRET (a fixed bench secret by default)
set -uo pipefail

if [[ -z ${SUITE_SESSION:-} ]] && command -v setsid >/dev/null; then
  export SUITE_SESSION=1
  exec setsid -w "$BASH" "${BASH_SOURCE[0]}" "$@"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
export DISPATCH=${DISPATCH:-$root/build/dispatch}
export BENCH_BUILD=${BENCH_BUILD:-$root/build-bench}
export DISPATCH_JWT_SECRET=${DISPATCH_JWT_SECRET:-suite-bench-secret-0123456789abcdef0123456789}
NICE=${BENCH_NICE:--20}

[[ -x $DISPATCH ]] || { echo "no dispatch binary at $DISPATCH (build it first)" >&2; exit 1; }
# --only with nothing but cluster and history: the load generator alone (no peers).
loadgen_only=
for ((i = 1; i <= $#; i++)); do
  case ${!i} in
    --only) j=$((i + 1)); list=${!j:-} ;;
    --only=*) list=${!i#--only=} ;;
    *) continue ;;
  esac
  [[ -n $list && -z $(tr ',' '\n' <<<"$list" | grep -vxE 'cluster|history|') ]] && loadgen_only=1
done
if [[ -n $loadgen_only ]]; then
  if [[ ! -x $BENCH_BUILD/loadgen || $here/loadgen.cpp -nt $BENCH_BUILD/loadgen ]]; then
    echo "building the load generator into $BENCH_BUILD" >&2
    cmake -S "$here" -B "$BENCH_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
      ninja -C "$BENCH_BUILD" -j2 loadgen >/dev/null || { echo "bench build failed" >&2; exit 1; }
  fi
else
  if [[ ! -x $BENCH_BUILD/loadgen || ! -x $BENCH_BUILD/beast_echo || ! -x $BENCH_BUILD/raw_epoll ||
        $here/loadgen.cpp -nt $BENCH_BUILD/loadgen ]]; then
    echo "building bench/ into $BENCH_BUILD (beast_echo takes about a minute)" >&2
    cmake -S "$here" -B "$BENCH_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
      ninja -C "$BENCH_BUILD" -j2 >/dev/null || { echo "bench build failed" >&2; exit 1; }
  fi
  [[ -d $here/peers/node_modules/ws && -d $here/peers/node_modules/socket.io ]] ||
    { echo "bench/peers/node_modules missing: run bench/install-deps" >&2; exit 1; }
fi
command -v gnuplot >/dev/null || echo "gnuplot missing (bench/install-deps): no charts" >&2

# 15,000 idle connections need about 15,100 descriptors on each side.
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]]; then ulimit -Sn 20000; else ulimit -Sn "$hard"; fi
export BENCH_SCHED="autogroup nice $NICE"
if ! echo "$NICE" 2>/dev/null >"/proc/$$/autogroup"; then
  BENCH_SCHED="autogroup nice unchanged (no /proc/PID/autogroup or not allowed)"
fi
exec /usr/bin/python3 "$here/suite.py" "$@"
