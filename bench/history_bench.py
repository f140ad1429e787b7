#!/usr/bin/python3
"""bench/history_bench.py: history and recovery (docs/PROTOCOL.md, "History and recovery") in the
benchmark suite, run by `bench/suite.sh --only history` (or started on its own after
bench/suite.sh has built the load generator). One server (bench/history-config.yaml: the suite's
events, and "hist:*" rooms keep their last 100 messages for 10 min; any other room is plain), so
a plain room and a history room differ only by their policy. Two workloads, each against a
baseline measured in the same run (ratios: the machine is shared and noisy):

  cost      what history costs per message: the suite's fan-out (`loadgen fanout`: 64 B
            messages into one room of 1,000 members, 8 publishes in flight, every member checked
            to get every message once, in order) into a plain room and into a history room, on
            the same server, alternating; with 1 and with 2 event loops (server.threads; with 2
            the history path sequences each message across the loops). Deliveries/s and server
            CPU per delivery for both, and the ratio.
  recover   1,000 clients in a history room note their position (the join's ack), all
            disconnect, 100 messages are published, then all 1,000 reconnect at once and join
            again with `since`: the time from the first reconnect to the last client having its
            100 replayed messages and its ack (recovered ok:true), and the server's CPU over that
            phase. Baseline: the same 1,000 reconnecting and joining a plain room (no since, no
            replay).

The recover driver is C++ (`loadgen recover`, bench/loadgen.cpp), not Python asyncio: it parses
100,000 replayed messages in a phase that lasts a fraction of a second, which a Python client
would spend seconds of CPU on, and it would then be what is measured. It checks every count:
each member must get exactly the 100 missed messages, at offsets pos+1..pos+100 with the
publisher's numbers 0..99, in order, in its epoch, before its ack, and the ack must say
recovered ok:true at pos+100; a run that does not is reported as failed. Its own CPU over the
phase is reported too (gen_cpu_s). The server's CPU for the phase is its threads' run time from
/proc/PID/task/*/schedstat (ns), because utime+stime from /proc/PID/stat tick at 10 ms, too
coarse for a phase of about 0.1 s (both are in results.jsonl).

The server is pinned to CPU 0 (both loops when there are 2: the cost of sequencing across loops
shows as CPU per delivery, not as a parallel speed-up), the load generator to CPU 1.
Writes bench/results/<date>-history/ (results.jsonl, table.md, server.log) and prints the table."""

import datetime
import json
import os
import socket
import subprocess
import sys
import time

from processes import free_port, stop

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DISPATCH = os.environ.get("DISPATCH", os.path.join(ROOT, "build", "dispatch"))
BUILD = os.environ.get("BENCH_BUILD", os.path.join(ROOT, "build-bench"))
LOADGEN = os.path.join(BUILD, "loadgen")
CONFIG = os.path.join(HERE, "history-config.yaml")
# The same fixed bench secret as bench/suite.sh, when run on its own.
os.environ.setdefault("DISPATCH_JWT_SECRET", "suite-bench-secret-0123456789abcdef0123456789")


def wait_port(port, proc):
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    raise RuntimeError("dispatch did not start")


class Server:
    def __init__(self, outdir, threads):
        self.port = free_port()
        self.log = open(os.path.join(outdir, "server.log"), "a")
        env = dict(os.environ, DISPATCH_BENCH_PORT=str(self.port),
                   DISPATCH_BENCH_THREADS=str(threads))
        self.proc = subprocess.Popen(["taskset", "-c", "0", DISPATCH, "serve", "--config", CONFIG],
                                     env=env, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        wait_port(self.port, self.proc)

    def close(self):
        stop(self.proc)
        self.log.close()


def loadgen(server, mode, opts, timeout=120):
    cmd = ["taskset", "-c", "1", LOADGEN, mode] + [
        str(x) for k, v in opts.items() for x in ("--" + k, v)] + [
        "--port", str(server.port), "--server-pid", str(server.proc.pid)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
    try:
        result = json.loads(line)
    except ValueError:
        result = {"ok": False, "fatal": line[-300:]}
    result["rc"] = out.returncode
    result["command"] = " ".join(cmd)
    if out.returncode not in (0, 1):
        result["ok"] = False
        result["fatal"] = (result.get("fatal") or "") + out.stderr.strip()[-300:]
    if server.proc.poll() is not None:
        result["ok"] = False
        result["fatal"] = "the server exited (%s)" % server.proc.returncode
    return result


def median(runs, key):
    vals = sorted(r[key] for r in runs if r.get(key) is not None)
    if not vals:
        return None
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2


def fmt(v, spec="{:,.0f}"):
    return "—" if v is None else spec.format(v)


def paired(hist, plain, key):
    """The median of history/plain over the runs of one repeat (same server, back to back): on a
    shared machine, steadier than the ratio of the two medians."""
    by_rep = {r["rep"]: r for r in plain if r.get(key)}
    ratios = sorted(r[key] / by_rep[r["rep"]][key] for r in hist
                    if r.get(key) and r["rep"] in by_rep)
    if not ratios:
        return "—"
    n = len(ratios)
    return "%.2f" % (ratios[n // 2] if n % 2 else (ratios[n // 2 - 1] + ratios[n // 2]) / 2)


def main(window=3.0, warmup=1.0, repeat=3, outdir=None):
    for path in (DISPATCH, LOADGEN):
        if not os.access(path, os.X_OK):
            sys.exit("%s is missing (bench/suite.sh builds the load generator; DISPATCH=...)" % path)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d-%H%M%S")
    outdir = outdir or os.path.join(HERE, "results", stamp + "-history")
    os.makedirs(outdir, exist_ok=True)
    jsonl = open(os.path.join(outdir, "results.jsonl"), "w")
    failed = []
    ids = iter(range(10000, 10 ** 9, 5000))  # users of their own per run (a _join joins them all)

    def record(r, **labels):
        r.update(labels)
        jsonl.write(json.dumps(r) + "\n")
        jsonl.flush()
        if not r.get("ok"):
            failed.append(r)
            print("  FAILED %s: %s %s" % (labels, r.get("fatal", ""), r.get("first_problem", "")),
                  file=sys.stderr, flush=True)
        return r

    # 1. what history costs per message: fan-out into a plain room and into a history room
    cost = {}
    for threads in (1, 2):
        for rep in range(repeat):
            server = Server(outdir, threads)
            try:
                order = ("plain", "history") if rep % 2 == 0 else ("history", "plain")
                for kind in order:
                    room = ("hist:fan:%d" if kind == "history" else "plain:fan:%d") % rep
                    r = loadgen(server, "fanout", {"members": 1000, "size": 64, "inflight": 8,
                                                   "seconds": window, "warmup": warmup,
                                                   "room": room, "id-base": next(ids),
                                                   "label": "%s %d loop(s)" % (kind, threads)})
                    record(r, workload="history-cost", room_kind=kind, threads=threads, rep=rep)
                    cost.setdefault((threads, kind), []).append(r)
                    print("  cost  %d loop(s) %-7s rep %d: %s deliveries/s, %s µs CPU/delivery" % (
                        threads, kind, rep, fmt(r.get("deliveries_per_s")),
                        r.get("server_cpu_us_per_msg")), file=sys.stderr, flush=True)
            finally:
                server.close()

    # 2. recovery of 100 missed messages for 1,000 reconnecting clients
    reps = max(repeat, 7)  # each run is short (about a second); its phase about 0.05 s
    rec = {}
    for threads in (1, 2):
        server = Server(outdir, threads)
        try:
            for rep in range(reps):
                order = ("plain", "history") if rep % 2 == 0 else ("history", "plain")
                for kind in order:
                    room = ("hist:rec:%d" if kind == "history" else "plain:rec:%d") % rep
                    r = loadgen(server, "recover", {
                        "members": 1000, "messages": 100, "room": room,
                        "since": 1 if kind == "history" else 0, "id-base": next(ids),
                        "label": "%s %d loop(s)" % (kind, threads)})
                    record(r, workload="history-recover", room_kind=kind, threads=threads, rep=rep)
                    rec.setdefault((threads, kind), []).append(r)
                    print("  recover %d loop(s) %-7s rep %d: %s s, server %s s, replayed %s" % (
                        threads, kind, rep, r.get("window_s"), r.get("server_run_s"),
                        r.get("replayed")), file=sys.stderr, flush=True)
        finally:
            server.close()

    lines = ["History cost: one room of 1,000 members, 64 B messages, 8 publishes in flight "
             "(median of %d runs per row, %g s each; vs plain: the median ratio of runs paired on "
             "one server)" % (repeat, window), "",
             "| event loops | room | deliveries/s | vs plain | server CPU µs/delivery | vs plain "
             "| delivered bytes | runs ok |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for threads in (1, 2):
        plain = cost[(threads, "plain")]
        for kind in ("plain", "history"):
            runs = cost[(threads, kind)]
            rate, cpu = median(runs, "deliveries_per_s"), median(runs, "server_cpu_us_per_msg")
            lines.append("| %d | %s | %s | %s | %s | %s | %s | %d/%d |" % (
                threads, kind if kind == "plain" else "history (size 100)", fmt(rate),
                paired(runs, plain, "deliveries_per_s"), fmt(cpu, "{:.3f}"),
                paired(runs, plain, "server_cpu_us_per_msg"),
                fmt(median(runs, "delivered_bytes"), "{:.0f}"),
                sum(1 for r in runs if r.get("ok")), len(runs)))
    lines += ["", "Recovery: 1,000 clients reconnect at once and join again; history: each with "
              "since, 100 missed messages replayed (median of %d runs per row)" % reps, "",
              "| event loops | room | first reconnect → last ack, s | vs plain | per-client "
              "reconnect → ack p50 / p99, ms | server CPU, s | vs plain | extra server CPU per "
              "replayed message, µs | load generator CPU, s | replayed (checked) | runs ok |",
              "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for threads in (1, 2):
        plain = rec[(threads, "plain")]
        p_cpu = median(plain, "server_run_s")
        for kind in ("plain", "history"):
            runs = rec[(threads, kind)]
            t, cpu = median(runs, "window_s"), median(runs, "server_run_s")
            extra = ("%.3f" % (1e6 * (cpu - p_cpu) / 100000)
                     if kind == "history" and cpu is not None and p_cpu is not None else "—")
            p50, p99 = median(runs, "p50_us"), median(runs, "p99_us")
            lines.append("| %d | %s | %s | %s | %s / %s | %s | %s | %s | %s | %s | %d/%d |" % (
                threads, "plain, no since" if kind == "plain" else "history, since",
                fmt(t, "{:.3f}"), paired(runs, plain, "window_s"),
                fmt(p50 and p50 / 1000, "{:.0f}"), fmt(p99 and p99 / 1000, "{:.0f}"),
                fmt(cpu, "{:.4f}"), paired(runs, plain, "server_run_s"), extra,
                fmt(median(runs, "gen_cpu_s"), "{:.3f}"),
                "{:,}".format(sum(r.get("replayed", 0) for r in runs)),
                sum(1 for r in runs if r.get("ok")), len(runs)))
    table = "\n".join(lines)
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write(table + "\n")
    print(table)
    print("results: %s" % os.path.relpath(outdir, ROOT))
    return 1 if failed else 0


def run_from_suite(window, warmup, repeat):
    """`bench/suite.sh --only history`."""
    return main(window, warmup, max(repeat, 5))


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    sys.exit(main(args.window, args.warmup, args.repeat))
