#!/usr/bin/python3
"""bench/cluster_bench.py: cluster mode (docs/CLUSTER.md) in the benchmark suite, run by
`bench/suite.sh --only cluster` (or started on its own after bench/suite.sh has built the load
generator). One room of 1,000 members, 64 B messages, one publisher:

  single        one node, no cluster (the suite's fan-out)
  single+redis  one node in cluster mode: everything local, plus one PUBLISH per message
  two nodes     the publisher on node A, every member on node B: each message crosses Redis

For each: deliveries/s with 8 publishes in flight (closed loop), CPU per delivery, then
publish→delivery latency at 20 publishes/s (p50/p99; with 1,000 members it is mostly the 1,000
writes), the same in a room of 10 members at 100 publishes/s (where the hop through Redis shows),
and for the cluster runs the Redis commands per client message (INFO commandstats). Every figure is measured in the same
run, so the ratios hold on a shared machine; the absolute numbers are one 2-core machine's, where
both nodes, Redis and the load generator share the cores (node B on CPU 0; node A, Redis and the
load generator on CPU 1), not what separate machines give.

Writes bench/results/<date>-cluster/ (results.jsonl, table.md, cluster.png) and prints the table."""

import datetime
import json
import os
import shutil
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
REDIS = "/usr/bin/redis-server"
TICKS = os.sysconf("SC_CLK_TCK")
# The same fixed bench secret as bench/suite.sh, when run on its own.
os.environ.setdefault("DISPATCH_JWT_SECRET", "suite-bench-secret-0123456789abcdef0123456789")


def wait_port(port, proc, what):
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    raise RuntimeError("%s did not start" % what)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def redis_command(port, *args):
    """One command over a raw socket (RESP); returns the bulk or status reply as text."""
    payload = "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(payload.encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, _, rest = data.partition(b"\r\n")
            if head[:1] in (b"+", b"-", b":"):
                return head[1:].decode()
            if head[:1] == b"$" and len(rest) >= int(head[1:]) + 2:
                return rest[:int(head[1:])].decode()
    raise RuntimeError("no reply from redis")


def command_calls(port):
    """INFO commandstats: calls per command."""
    calls = {}
    for line in redis_command(port, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, stats = line[len("cmdstat_"):].split(":", 1)
            calls[name] = int(dict(kv.split("=") for kv in stats.split(","))["calls"])
    return calls


class Cluster:
    """Redis (when `redis`) and `nodes` Dispatch nodes, each pinned to the given CPU."""

    def __init__(self, outdir, node_cpus, redis):
        self.procs = []
        self.log = open(os.path.join(outdir, "server.log"), "a")
        self.redis_port = None
        if redis:
            self.redis_port = free_port()
            self.redis_dir = os.path.join(outdir, "redis-%d" % self.redis_port)
            os.makedirs(self.redis_dir)
            self.redis = subprocess.Popen(
                ["taskset", "-c", "1", REDIS, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", self.redis_dir],
                stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
            self.procs.append(self.redis)
            wait_port(self.redis_port, self.redis, "redis-server")
        config = os.path.join(HERE, "cluster-config.yaml" if redis else "suite-config.yaml")
        self.nodes = []
        for cpu in node_cpus:
            port = free_port()
            env = dict(os.environ, DISPATCH_BENCH_PORT=str(port))
            if redis:
                env["DISPATCH_BENCH_REDIS_PORT"] = str(self.redis_port)
            proc = subprocess.Popen(["taskset", "-c", str(cpu), DISPATCH, "serve", "--config", config],
                                    env=env, stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL)
            self.procs.append(proc)
            wait_port(port, proc, "dispatch")
            self.nodes.append((proc, port))

    def close(self):
        for proc in reversed(self.procs):
            stop(proc)
        if self.redis_port:
            shutil.rmtree(self.redis_dir, ignore_errors=True)


def run_case(outdir, label, node_cpus, redis, publisher_node, member_node, opts):
    cluster = Cluster(outdir, node_cpus, redis)
    try:
        pub_proc, pub_port = cluster.nodes[publisher_node]
        mem_proc, mem_port = cluster.nodes[member_node]
        before_calls = command_calls(cluster.redis_port) if redis else {}
        others = [p for p, _ in cluster.nodes if p is not mem_proc] + (
            [cluster.redis] if redis else [])
        before_cpu = [cpu_seconds(p.pid) for p in others]
        redis_before = cpu_seconds(cluster.redis.pid) if redis else 0
        cmd = ["taskset", "-c", "1", LOADGEN, "fanout"] + [
            str(x) for k, v in opts.items() for x in ("--" + k, v)] + [
            "--port", str(pub_port), "--member-port", str(mem_port),
            "--server-pid", str(mem_proc.pid), "--label", label]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else "{}"
        result = json.loads(line)
        other_cpu = sum(cpu_seconds(p.pid) for p in others) - sum(before_cpu)
        result.update(case=label, rc=out.returncode)
        if result.get("deliveries"):
            result["other_cpu_us_per_delivery"] = round(1e6 * other_cpu / result["deliveries"], 3)
        if redis and result.get("published"):
            # Whole run (setup included): an upper bound of Redis's CPU per message.
            redis_cpu = cpu_seconds(cluster.redis.pid) - redis_before
            result["redis_cpu_us_per_message"] = round(1e6 * redis_cpu / result["published"], 2)
        if redis:
            after = command_calls(cluster.redis_port)
            diff = {k: after.get(k, 0) - before_calls.get(k, 0) for k in after}
            result["redis_calls"] = {k: v for k, v in diff.items() if v and k != "info"}
        if out.returncode not in (0, 1):
            result["fatal"] = out.stderr.strip()[-300:]
        return result
    finally:
        cluster.close()


CASES = [
    # label, node CPUs, redis, publisher's node, members' node
    ("single", [0], False, 0, 0),
    ("single+redis", [0], True, 0, 0),
    ("two nodes", [0, 1], True, 1, 0),
]


def redis_calls_per_message(outdir, label, cpus, pub, mem):
    """Redis commands per client message, setup excluded: two runs at the same publish rate that
    differ only in length; the difference in commands over the difference in messages (the joins
    and subscriptions of the setup, the same in both, cancel out)."""
    runs = [run_case(outdir, label, cpus, True, pub, mem,
                     dict(members=1000, size=64, rate=200, seconds=seconds, warmup=0.5))
            for seconds in (2, 6)]
    published = runs[1].get("published", 0) - runs[0].get("published", 0)
    if published <= 0:
        return {}
    calls = {k: runs[1]["redis_calls"].get(k, 0) - runs[0]["redis_calls"].get(k, 0)
             for k in set(runs[0]["redis_calls"]) | set(runs[1]["redis_calls"])}
    return {"per_message": round(sum(calls.values()) / published, 3),
            "publish_per_message": round(calls.get("publish", 0) / published, 3),
            "calls": calls, "published": published}


def median(runs, key):
    ok = [r for r in runs if r.get(key)]
    if not ok:
        return runs[0]
    return sorted(ok, key=lambda r: r[key])[len(ok) // 2]


def chart(outdir, rows):
    if not shutil.which("gnuplot"):
        return None
    dat = os.path.join(outdir, "cluster.dat")
    with open(dat, "w") as f:
        for label, sat, lat, few in rows:
            f.write('"%s" %s %s %s\n' % (label, sat.get("deliveries_per_s", 0) / 1000,
                                         few.get("p50_us", 0), few.get("p99_us", 0)))
    png = os.path.join(outdir, "cluster.png")
    script = "\n".join([
        'set terminal pngcairo size 900,420 font "DejaVu Sans,10"',
        "set output '%s'" % png,
        "set multiplot layout 1,2 title 'Cluster mode: one room of 1,000 members, 64 B (one 2-core machine)'",
        "set style data histograms", "set style fill solid 0.8 border -1", "set boxwidth 0.8",
        "set grid ytics", "set yrange [0:*]",
        "set title 'deliveries/s (thousands), 8 publishes in flight'",
        "plot '%s' using 2:xtic(1) notitle lc rgb '#4477aa'" % dat,
        "set title 'publish→delivery latency, 10 members at 100 publishes/s (µs)'",
        "set key top left",
        "plot '%s' using 3:xtic(1) title 'p50' lc rgb '#66ccee', '' using 4 title 'p99' lc rgb '#ee6677'" % dat,
        "unset multiplot",
    ])
    subprocess.run(["gnuplot"], input=script + "\n", text=True, check=False)
    return png if os.path.exists(png) else None


def main(window=3.0, warmup=1.0, repeat=3, outdir=None):
    if not os.path.exists(REDIS):
        sys.exit("%s is missing: run ./scripts/install-deps" % REDIS)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d-%H%M%S")
    outdir = outdir or os.path.join(HERE, "results", stamp + "-cluster")
    os.makedirs(outdir, exist_ok=True)
    jsonl = open(os.path.join(outdir, "results.jsonl"), "w")
    rows = []
    for label, cpus, redis, pub, mem in CASES:
        saturation, latency, small = [], [], []
        for rep in range(repeat):  # cases alternate within a repeat would need restarts; keep simple
            r = run_case(outdir, label, cpus, redis, pub, mem,
                         dict(members=1000, size=64, inflight=8, seconds=window, warmup=warmup))
            r.update(workload="cluster-fanout", rep=rep)
            saturation.append(r)
            jsonl.write(json.dumps(r) + "\n")
            r = run_case(outdir, label, cpus, redis, pub, mem,
                         dict(members=1000, size=64, rate=20, seconds=max(window, 5), warmup=warmup))
            r.update(workload="cluster-latency", rep=rep)
            latency.append(r)
            jsonl.write(json.dumps(r) + "\n")
            r = run_case(outdir, label, cpus, redis, pub, mem,
                         dict(members=10, size=64, rate=100, seconds=max(window, 5), warmup=warmup))
            r.update(workload="cluster-latency-small", rep=rep)
            small.append(r)
            jsonl.write(json.dumps(r) + "\n")
            jsonl.flush()
            print("  %-13s rep %d: %s deliveries/s, p50/p99 %s/%s us (10 members: %s/%s us)" % (
                label, rep, "{:,.0f}".format(saturation[-1].get("deliveries_per_s", 0)),
                latency[-1].get("p50_us"), latency[-1].get("p99_us"), small[-1].get("p50_us"),
                small[-1].get("p99_us")), file=sys.stderr, flush=True)
        row = (label, median(saturation, "deliveries_per_s"), median(latency, "p99_us"),
               median(small, "p99_us"))
        if redis:
            ops = redis_calls_per_message(outdir, label, cpus, pub, mem)
            row[1]["redis_calls_per_message"] = ops.get("per_message")
            row[1]["publish_per_message"] = ops.get("publish_per_message")
            jsonl.write(json.dumps(dict(case=label, workload="cluster-redis-ops", **ops)) + "\n")
        rows.append(row)

    base = rows[0][1].get("deliveries_per_s") or 1
    lines = ["| case | deliveries/s | vs single | CPU µs/delivery, members' node | other CPU µs/delivery (node A, Redis) | p50 / p99 µs, 1,000 members at 20 pub/s | p50 / p99 µs, 10 members at 100 pub/s | Redis commands per message (PUBLISH) | Redis CPU µs per message |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, sat, lat, few in rows:
        calls = ("%s (%s)" % (sat.get("redis_calls_per_message"), sat.get("publish_per_message"))
                 if "redis_calls_per_message" in sat else "—")
        lines.append("| %s | %s | %.2f | %s | %s | %s / %s | %s / %s | %s | %s |" % (
            label, "{:,.0f}".format(sat.get("deliveries_per_s", 0)),
            sat.get("deliveries_per_s", 0) / base, sat.get("server_cpu_us_per_msg", "—"),
            sat.get("other_cpu_us_per_delivery", "—"), lat.get("p50_us", "—"), lat.get("p99_us", "—"),
            few.get("p50_us", "—"), few.get("p99_us", "—"), calls,
            sat.get("redis_cpu_us_per_message", "—")))
    table = "\n".join(lines)
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write(table + "\n")
    png = chart(outdir, rows)
    print(table)
    print("results: %s%s" % (os.path.relpath(outdir, ROOT),
                             "; chart: " + os.path.relpath(png, ROOT) if png else ""))
    return 0 if all(r[1].get("ok", True) for r in rows) else 1


def run_from_suite(window, warmup, repeat):
    """`bench/suite.sh --only cluster`."""
    return main(window, warmup, max(repeat, 1))


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sys.exit(main(args.window, args.warmup, args.repeat))
