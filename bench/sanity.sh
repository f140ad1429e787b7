#!/usr/bin/env bash
# bench/sanity.sh — the first performance sanity check: Dispatch against a plain Boost.Beast
# echo server, one server core each, on loopback.
#
#   bench/sanity.sh            (about 2.5 minutes; writes bench/results/sanity-<date>.md)
#
# The server runs on CPU 0 and the load generator on CPU 1 (taskset). The script runs in its
# own session whose scheduler autogroup gets nice $BENCH_NICE (default -20, when allowed): with
# autogroup scheduling (Debian's default) a plain `nice` only ranks processes inside one session,
# so a compile in another terminal would still take half of each core. What other work still
# took is reported per run as run-queue wait (from /proc/PID/task/*/schedstat). Every server is
# fresh for every run. Environment:
#   DISPATCH=path/to/dispatch   BENCH_BUILD=dir with loadgen and beast_echo (built if missing)
#   SANITY_SECONDS=10 (measure window)  BENCH_NICE=-20
set -uo pipefail

if [[ -z ${SANITY_SESSION:-} ]] && command -v setsid >/dev/null; then
  export SANITY_SESSION=1
  exec setsid -w "$BASH" "${BASH_SOURCE[0]}" "$@"
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
DISPATCH=${DISPATCH:-$root/build/dispatch}
WINDOW=${SANITY_SECONDS:-10}
NICE=${BENCH_NICE:--20}
SECRET=${DISPATCH_JWT_SECRET:-sanity-bench-secret-0123456789abcdef0123456789}
export DISPATCH_JWT_SECRET=$SECRET

if [[ -z "${BENCH_BUILD:-}" ]]; then
  if [[ -x $root/build/bench/loadgen && -x $root/build/bench/beast_echo ]]; then
    BENCH_BUILD=$root/build/bench
  else
    BENCH_BUILD=$root/build-bench
  fi
fi
if [[ ! -x $BENCH_BUILD/loadgen || ! -x $BENCH_BUILD/beast_echo ]]; then
  echo "building bench/ into $BENCH_BUILD (beast_echo takes about a minute)" >&2
  cmake -S "$here" -B "$BENCH_BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
    ninja -C "$BENCH_BUILD" -j2 >/dev/null || { echo "bench build failed" >&2; exit 1; }
fi
LOADGEN=$BENCH_BUILD/loadgen
BEAST=$BENCH_BUILD/beast_echo
[[ -x $DISPATCH ]] || { echo "no dispatch binary at $DISPATCH" >&2; exit 1; }

# 5,000 idle connections need about 5,100 descriptors on each side.
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]]; then ulimit -Sn 20000; else ulimit -Sn "$hard"; fi
if (( $(ulimit -Sn) < 5200 )); then echo "ulimit -n is $(ulimit -Sn); need 5200" >&2; exit 1; fi
sched_note="autogroup nice $NICE"
if ! echo "$NICE" 2>/dev/null >"/proc/$$/autogroup"; then
  sched_note="autogroup nice unchanged (no /proc/PID/autogroup or not allowed)"
fi

work=$(mktemp -d /tmp/dispatch-sanity.XXXXXX)
trap 'stop_server; rm -rf "$work"' EXIT
rows=$work/rows.tsv
: >"$rows"
server_pid=""
server_log=""
failed=0

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server dispatch|beast → sets server_pid, port, server_cmd
start_server() {
  port=$(free_port)
  server_log=$work/server-$1-$port.log
  if [[ $1 == dispatch ]]; then
    server_cmd="DISPATCH_BENCH_PORT=$port taskset -c 0 $DISPATCH serve --config bench/sanity-config.yaml"
    DISPATCH_BENCH_PORT=$port taskset -c 0 "$DISPATCH" serve \
      --config "$here/sanity-config.yaml" >"$server_log" 2>&1 &
  else
    server_cmd="taskset -c 0 $BEAST --port $port"
    taskset -c 0 "$BEAST" --port "$port" >"$server_log" 2>&1 &
  fi
  server_pid=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "server $1 did not start; log:" >&2
  cat "$server_log" >&2
  return 1
}

stop_server() {
  [[ -n $server_pid ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null
  for _ in $(seq 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null
  wait "$server_pid" 2>/dev/null
  server_pid=""
}

# run KEY SERVER LOADGEN-ARGS... : one measurement on a fresh server, one row in $rows
run() {
  local key=$1 server=$2
  shift 2
  start_server "$server" || { failed=1; return; }
  local cmd="taskset -c 1 $LOADGEN $* --port $port --server-pid <pid>"
  echo "[$key/$server] $cmd" >&2
  local out rc note=""
  out=$(timeout 150 taskset -c 1 "$LOADGEN" "$@" --port "$port" \
        --server-pid "$server_pid" --label "$key/$server")
  rc=$?
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid"
    note="SERVER EXITED during the run (status $?); log tail: $(tail -c 600 "$server_log" | tr '\t\n' '  ')"
    server_pid=""
    failed=1
  fi
  if [[ -s $server_log ]]; then
    note+=" server log: $(head -c 600 "$server_log" | tr '\t\n' '  ')"
  fi
  stop_server
  (( rc == 0 )) || failed=1
  [[ -n $out ]] || out='{}'
  echo "$out" >&2
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$key" "$server" "$rc" "$server_cmd" "$cmd" "$out" \
    | tr -d '\r' | sed "s#$root/##g" >>"$rows"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for s in dispatch beast; do
  run a-echo-1 "$s" echo --conns 100 --inflight 1 --size 64 --seconds "$WINDOW"
done
for s in dispatch beast; do
  run b-echo-8 "$s" echo --conns 100 --inflight 8 --size 64 --seconds "$WINDOW"
done
run c-fanout dispatch fanout --members 1000 --inflight 8 --size 64 --seconds "$WINDOW"
run c-fanout-rate dispatch fanout --members 1000 --rate 50 --size 64 --seconds 5
for s in dispatch beast; do
  run e-echo-rate "$s" echo --conns 100 --rate 20000 --size 64 --seconds 5
done
for s in dispatch beast; do
  run d-idle "$s" idle --conns 5000 --hold "$WINDOW"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$here/results"
report=$here/results/sanity-$(date -u +%Y-%m-%d-%H%M%S).md
/usr/bin/python3 - "$rows" "$report" "$started" "$load_before" "$load_after" "$sched_note" "$WINDOW" <<'PY'
import json, os, subprocess, sys
rows_file, report, started, load_before, load_after, sched, window = sys.argv[1:]
rows = []
for line in open(rows_file):
    key, server, rc, scmd, cmd, out = line.rstrip("\n").split("\t", 5)
    try:
        res = json.loads(out)
    except ValueError:
        res = {}
    rows.append(dict(key=key, server=server, rc=int(rc), scmd=scmd, cmd=cmd, r=res))
get = lambda k, s: next((x["r"] for x in rows if x["key"] == k and x["server"] == s), {})

def waits(r):
    if "gen_wait_pct" not in r:
        return "?"
    return "%.1f/%.1f" % (r.get("server_wait_pct", 0), r["gen_wait_pct"])

def f(v, fmt="{:,.0f}"):
    return "–" if v is None else fmt.format(v)

def ratio(a, b, fmt="{:.2f}"):
    return "–" if not a or not b else fmt.format(a / b)

lines = []
P = lines.append
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
P("# Dispatch sanity benchmark, %s" % started)
P("")
P("Machine: %s CPUs (`nproc`), %s, kernel %s. Load average before/after: %s / %s." % (
    subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(), model,
    os.uname().release, load_before, load_after))
P("Server pinned to CPU 0, load generator (`bench/loadgen`, one thread, one io_context) to CPU 1, "
  "in a session with %s; one fresh server per run; measure window %s s after 1 s warm-up; server "
  "CPU = utime+stime from /proc/PID/stat over the window. \"wait\" = %% of the window the server / "
  "generator was runnable but waiting for its CPU (other work on a shared box; near 0 = clean)."
  % (sched, window))
P("")
P("| run | server | msgs/s | server CPU µs/msg | server CPU % | gen CPU % | wait srv/gen % | notes |")
P("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
for x in rows:
    r = x["r"]; m = r.get("mode")
    rate = r.get("msgs_per_s", r.get("deliveries_per_s"))
    notes = []
    if m == "fanout":
        notes.append("deliveries/s; %s published, missing %s, order errors %s" % (r.get("published"), r.get("missing"), r.get("order_errors")))
    if "p50_us" in r:
        notes.append("p50/p99/p99.9 %.0f/%.0f/%.0f µs" % (r["p50_us"], r["p99_us"], r["p999_us"]))
    if m == "idle":
        notes.append("%s B/conn (RSS %s→%s KiB), idle CPU %.2f%%" % (f(r.get("rss_bytes_per_conn")), r.get("rss_before_kb"), r.get("rss_after_kb"), r.get("server_cpu_pct", 0)))
    g, sv = r.get("gen_cpu_pct", 0), r.get("server_cpu_pct", 0)
    if g >= 85 and sv < 80:
        notes.append("**generator-bound** (gen %.0f%%, server %.0f%%)" % (g, sv))
    elif g >= 85 and sv >= 80 and m != "idle":
        notes.append("both sides near saturation (gen %.0f%%, server %.0f%%)" % (g, sv))
    if not r.get("ok"):
        notes.append("**FAILED** (rc %d): %s %s" % (x["rc"], r.get("fatal", ""), r.get("first_problem", "")))
    per = r.get("server_cpu_us_per_msg")
    P("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
        x["key"], x["server"], f(rate) if m != "idle" else "–", f(per, "{:.2f}") if m != "idle" else "–",
        f(r.get("server_cpu_pct"), "{:.0f}"), f(r.get("gen_cpu_pct"), "{:.0f}"), waits(r), "; ".join(notes)))
P("")
P("## Dispatch / Beast")
P("")
a_d, a_b, b_d, b_b = get("a-echo-1", "dispatch"), get("a-echo-1", "beast"), get("b-echo-8", "dispatch"), get("b-echo-8", "beast")
c_d, d_d, d_b = get("c-fanout", "dispatch"), get("d-idle", "dispatch"), get("d-idle", "beast")
e_d, e_b = get("e-echo-rate", "dispatch"), get("e-echo-rate", "beast")
P("| measure | Dispatch | Beast | Dispatch/Beast |")
P("| --- | ---: | ---: | ---: |")
for label, d, b, k, fmt in [
    ("a) echo 100 conns, 1 in flight: msgs/s", a_d, a_b, "msgs_per_s", "{:,.0f}"),
    ("a) server CPU µs/msg", a_d, a_b, "server_cpu_us_per_msg", "{:.2f}"),
    ("b) echo 100 conns, 8 in flight: msgs/s", b_d, b_b, "msgs_per_s", "{:,.0f}"),
    ("b) server CPU µs/msg", b_d, b_b, "server_cpu_us_per_msg", "{:.2f}"),
    ("e) echo open loop 20k msgs/s: p50 µs", e_d, e_b, "p50_us", "{:,.0f}"),
    ("e) echo open loop 20k msgs/s: p99 µs", e_d, e_b, "p99_us", "{:,.0f}"),
    ("d) idle 5,000 conns: bytes/conn", d_d, d_b, "rss_bytes_per_conn", "{:,.0f}"),
    ("d) idle CPU %", d_d, d_b, "server_cpu_pct", "{:.2f}"),
]:
    P("| %s | %s | %s | %s |" % (label, f(d.get(k), fmt), f(b.get(k), fmt), ratio(d.get(k), b.get(k))))
cd, cb = c_d.get("server_cpu_us_per_msg"), b_b.get("server_cpu_us_per_msg")
P("| c) 1,000-member room: server CPU µs/delivery | %s | %s (\\*) | %s |" % (f(cd, "{:.3f}"), f(cb, "{:.2f}"), ratio(cd, cb)))
P("| c) deliveries/s (Dispatch measured; Beast \\* = 1e6 / its µs per echo) | %s | %s | %s |" % (
    f(c_d.get("deliveries_per_s")), f(1e6 / cb if cb else None), ratio(c_d.get("deliveries_per_s"), 1e6 / cb if cb else None)))
P("")
P("(\\*) Beast echo has no rooms: a 1,000-member room is costed there as 1,000 echo messages, "
  "i.e. its server CPU per echo message from run b (8 in flight); a delivery costs Dispatch one "
  "outgoing frame only, an echo costs Beast one read and one write, so this flatters Dispatch "
  "somewhat. Beast's idle connections join no room; Dispatch's each join their own room "
  "`room:idle:<i>`.")
P("")
P("## Commands")
P("")
P("Whole run: `bench/sanity.sh` (config `bench/sanity-config.yaml`, secret in `DISPATCH_JWT_SECRET`).")
P("")
for x in rows:
    P("- %s/%s: `%s` ; `%s`" % (x["key"], x["server"], x["scmd"], x["cmd"]))
P("")
P("## Raw results")
P("")
P("```")
for x in rows:
    P(json.dumps(x["r"]))
P("```")
text = "\n".join(lines) + "\n"
open(report, "w").write(text)
print(text)
PY
echo "report: ${report#$root/}" >&2
exit $failed
