"""bench/suite_report.py: turns the suite's runs (bench/results/<date>/results.jsonl) into the
table (table.md, printed), the charts (gnuplot, PNG) and the results section of
docs/BENCHMARKS.md (between the suite:begin and suite:end markers)."""

import os
import shutil
import subprocess

PEERS = ["dispatch", "raw", "beast", "node_ws", "socketio"]
NAMES = {"dispatch": "Dispatch", "raw": "raw epoll", "beast": "Beast", "node_ws": "Node ws",
         "socketio": "Socket.IO"}
BEGIN, END = "<!-- suite:begin -->", "<!-- suite:end -->"


def fmt(v, f="{:,.0f}"):
    return "–" if v is None else f.format(v)


def flags(r):
    """Marks on a cell: ✗ failed run, † generator-bound (the server had CPU to spare)."""
    if not r:
        return ""
    if not r.get("ok"):
        return " ✗"
    if r.get("mode") not in ("idle",) and r.get("gen_cpu_pct", 0) >= 85 and r.get("server_cpu_pct", 100) < 80:
        return " †"
    return ""


class Rows:
    def __init__(self, results, peers):
        self.by = {(r["key"], r["peer"]): r for r in results}
        self.peers = peers
        self.lines = []

    def get(self, key, peer):
        return self.by.get((key, peer), {})

    def row(self, label, key, field, f="{:,.0f}", cell=None):
        """One table row: a value per peer, then Dispatch / Beast and Dispatch / raw."""
        vals = {}
        cells = []
        for p in self.peers:
            r = self.get(key, p)
            v = r.get(field) if r else None
            vals[p] = v
            text = cell(r) if (cell and r) else fmt(v, f)
            cells.append(text + flags(r))
        if all(v is None for v in vals.values()) and not cell:
            return
        ratios = []
        for other in ("beast", "raw"):
            a, b = vals.get("dispatch"), vals.get(other)
            ratios.append("%.2f" % (a / b) if a and b else "–")
        self.lines.append("| %s | %s | %s |" % (label, " | ".join(cells), " | ".join(ratios)))


def lat_cell(*fields):
    def cell(r):
        if "p50_us" not in r:
            return "–"
        return " / ".join(fmt(r.get(f)) for f in fields)
    return cell


def table(results, meta):
    peers = [p for p in PEERS if p in meta.get("peers", PEERS)]
    R = Rows(results, peers)
    L = R.lines
    L.append("| measure | %s | Dispatch / Beast | Dispatch / raw |" % " | ".join(NAMES[p] for p in peers))
    L.append("| --- |%s ---: | ---: |" % (" ---: |" * len(peers)))
    keys = sorted({r["key"] for r in results}, key=lambda k: [r["key"] for r in results].index(k))
    for key in keys:
        any_r = next(r for r in results if r["key"] == key)
        w = any_r.get("workload")
        if w == "echo":
            what = "echo %s conns, %d B, %d in flight" % (fmt(any_r["conns"]), any_r["size"], any_r["inflight"])
            R.row(what + ": msgs/s", key, "msgs_per_s")
            R.row(what + ": server CPU µs/msg", key, "server_cpu_us_per_msg", "{:.2f}")
        elif w == "echo-latency" and any_r.get("frac") == 0.5:
            what = "echo %s conns, %d B, open loop at ½ saturation" % (fmt(any_r["conns"]), any_r["size"])
            R.row(what + ": msgs/s offered", key, "rate")
            R.row(what + ": round trip p50 / p99 / p99.9 µs", key, "p99_us",
                  cell=lat_cell("p50_us", "p99_us", "p999_us"))
        elif w == "fanout":
            what = "fan-out 1 → %s members, %d B" % (fmt(any_r["members"]), any_r["size"])
            R.row(what + ": deliveries/s", key, "deliveries_per_s")
            R.row(what + ": server CPU µs/delivery", key, "server_cpu_us_per_msg", "{:.3f}")
            R.row(what + ": bytes per message sent → per delivery", key, "delivered_bytes",
                  cell=lambda r: "%s → %s" % (fmt(r.get("msg_bytes")), fmt(r.get("delivered_bytes"))))
        elif w == "fanout-batch":
            what = "fan-out 1 → %s members, %d B, %d publishes in flight" % (
                fmt(any_r["members"]), any_r["size"], any_r["batch"])
            R.row(what + ": deliveries/s", key, "deliveries_per_s")
            R.row(what + ": server CPU µs/delivery", key, "server_cpu_us_per_msg", "{:.3f}")
        elif w == "fanout-latency":
            what = "fan-out 1 → %s members, %d B, %s publishes/s (%s)" % (
                fmt(any_r["members"]), any_r["size"], fmt(any_r.get("rate"), "{:,.1f}"),
                "the target's rate" if any_r["members"] == 1000 and any_r.get("rate") == 20
                else "½ the slowest peer's rate")
            R.row(what + ": publish → last delivery p50 / p99 µs", key, "p99_us",
                  cell=lat_cell("p50_us", "p99_us"))
        elif w == "slow":
            base = key.replace("slow-", "fanout-")
            what = "fan-out 1 → %s, %d B, one member stops reading" % (fmt(any_r["members"]), any_r["size"])

            def slow_cell(r, base=base):
                b = R.get(base, r["peer"]).get("deliveries_per_s")
                v = r.get("deliveries_per_s")
                if not v:
                    return "–"
                return "%s (%+.0f%%)" % (fmt(v), 100.0 * (v / b - 1)) if b else fmt(v)
            R.row(what + ": others' deliveries/s (vs without)", key, "deliveries_per_s", cell=slow_cell)
            R.row(what + ": server peak RSS MiB", key, "rss_peak_kb", cell=lambda r: fmt(r.get("rss_peak_kb", 0) / 1024, "{:,.1f}"))
        elif w == "idle":
            what = "idle %s conns (one room each, each pinging every %d s)" % (
                fmt(any_r["conns"]), any_r.get("ping_s", 10))
            R.row(what + ": user-space bytes/conn", key, "rss_bytes_per_conn")
            R.row(what + ": server CPU %", key, "server_cpu_pct", "{:.2f}")
        elif w == "handshake":
            R.row("handshakes (connect + HS256 token + welcome), 32 at a time: per s", key, "handshakes_per_s")
            R.row("handshakes: server CPU µs each", key, "server_cpu_us_per_msg", "{:.1f}")
            R.row("handshakes: connect → welcome p50 / p99 µs", key, "p99_us", cell=lat_cell("p50_us", "p99_us"))
    return "\n".join(L)


def runs_table(results):
    L = ["| run | peer | rate | server CPU % | gen CPU % | wait srv/gen % | peak RSS MiB | result |",
         "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        rate = r.get("msgs_per_s") or r.get("deliveries_per_s") or r.get("handshakes_per_s")
        note = "ok" if r.get("ok") else "**FAILED** %s %s" % (r.get("fatal", ""), r.get("first_problem", ""))
        if r.get("missing"):
            note += "; missing %s" % r["missing"]
        L.append("| %s | %s | %s | %s | %s | %s/%s | %s | %s |" % (
            r["key"], NAMES.get(r["peer"], r["peer"]), fmt(rate), fmt(r.get("server_cpu_pct"), "{:.0f}"),
            fmt(r.get("gen_cpu_pct"), "{:.0f}"), fmt(r.get("server_wait_pct"), "{:.1f}"),
            fmt(r.get("gen_wait_pct"), "{:.1f}"), fmt(r.get("rss_peak_kb", 0) / 1024, "{:,.0f}"),
            note.replace("|", "/")))
    return "\n".join(L)


# ---- charts ---------------------------------------------------------------------------------

def series(results, peers, select, x, y):
    out = {}
    for p in peers:
        pts = sorted((x(r), y(r)) for r in results if r["peer"] == p and select(r) and r.get("ok") and y(r))
        if pts:
            out[p] = pts
    return out


def chart(outdir, name, title, xlabel, ylabel, data, logx=False, logy=False):
    if not data or max(len(v) for v in data.values()) < 2 or not shutil.which("gnuplot"):
        return None
    files = []
    for p, pts in data.items():
        f = os.path.join(outdir, "%s-%s.dat" % (name, p))
        with open(f, "w") as fh:
            fh.write("".join("%s %s\n" % xy for xy in pts))
        files.append((p, f))
    png = os.path.join(outdir, name + ".png")
    script = [
        'set terminal pngcairo size 860,500 font "DejaVu Sans,10"',
        "set output '%s'" % png,
        "set title '%s'" % title,
        "set xlabel '%s'" % xlabel,
        "set ylabel '%s'" % ylabel,
        "set key outside right top",
        "set grid",
        "set format y '%.0s%c'" if logy else "set format y '%.1s%c'",
        "set format x '%.0s%c'",
    ]
    if logx:
        script.append("set logscale x")
    if logy:
        script.append("set logscale y")
    script.append("plot " + ", ".join("'%s' using 1:2 with linespoints lw 2 pt 7 title '%s'" % (f, NAMES[p])
                                      for p, f in files))
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=False)
    return os.path.basename(png) if os.path.exists(png) else None


def charts(outdir, results, peers):
    made = []
    c = chart(outdir, "deliveries-vs-room", "Fan-out: deliveries/s against room size (64 B, 8 publishes in flight)",
              "room members", "deliveries/s",
              series(results, peers, lambda r: r.get("workload") == "fanout" and r.get("size") == 64,
                     lambda r: r["members"], lambda r: r.get("deliveries_per_s")), logx=True)
    if c:
        made.append(("Deliveries/s against room size", c))
    c = chart(outdir, "memory-vs-conns", "Idle: server RSS against connections (one room each)",
              "connections", "server RSS (bytes)",
              series(results, peers, lambda r: r.get("workload") == "idle" and r.get("ping_s", 25) == 25,
                     lambda r: r["conns"], lambda r: r.get("rss_after_kb", 0) * 1024), logy=True)
    if c:
        made.append(("Memory against connection count", c))
    c = chart(outdir, "p99-vs-load", "Echo, 100 conns, 64 B, open loop: round-trip p99 against offered load",
              "messages/s offered", "p99 (µs)",
              series(results, peers, lambda r: r.get("workload") == "echo-latency" and r.get("conns") == 100
                     and r.get("size") == 64, lambda r: r.get("rate"), lambda r: r.get("p99_us")),
              logx=True, logy=True)
    if c:
        made.append(("p99 against load", c))
    return made


# ---- writing --------------------------------------------------------------------------------

def header(meta):
    return ("%s run of `bench/suite.sh%s` at %s UTC: %s CPUs (%s), kernel %s, Node %s. Load average "
            "before/after: %s / %s. Each server pinned to CPU 0, the load generator (one thread) to "
            "CPU 1, in a session with %s; a fresh server per run; %s s warm-up, %s s windows; "
            "server CPU = utime+stime from /proc/PID/stat over the window%s; %d s in all." % (
                "Full" if meta.get("full") else "Quick", " --full" if meta.get("full") else "",
                meta["started"], meta.get("nproc"), meta.get("cpu"), meta.get("kernel"), meta.get("node"),
                " ".join(meta.get("load_before", [])), " ".join(meta.get("load_after", [])),
                meta.get("sched"), fmt(meta.get("warmup_s"), "{:g}"), fmt(meta.get("window_s"), "{:g}"),
                "; each figure the median of %d runs" % meta["repeat"] if meta.get("repeat", 1) > 1 else "",
                meta.get("elapsed_s", 0)))


LEGEND = ("† generator-bound (the generator was at ≥ 85 % of its core while the server had CPU to spare: "
          "compare CPU per message instead); ✗ the run failed (see the runs table). Ratios are "
          "Dispatch's value over the peer's: above 1 is better for rates, below 1 for CPU, bytes and "
          "latency.")


def write(outdir, results, meta, docs_path=None):
    peers = [p for p in PEERS if p in meta.get("peers", PEERS)]
    summary = table(results, meta)
    made = charts(outdir, results, peers)
    body = [header(meta), "", summary, "", LEGEND, ""]
    with open(os.path.join(outdir, "table.md"), "w") as f:
        f.write("# Benchmark suite, %s\n\n" % meta["started"])
        f.write("\n".join(body))
        for title, png in made:
            f.write("\n![%s](%s)\n" % (title, png))
        f.write("\n## Every run\n\n" + runs_table(results) + "\n\n## Commands\n\n")
        for r in results:
            f.write("- %s/%s: `%s` ; `%s`\n" % (r["key"], r["peer"], r.get("server_cmd", ""), r.get("cmd", "")))
    if docs_path:
        rel = os.path.relpath(outdir, os.path.dirname(docs_path))
        section = [BEGIN, "", header(meta), "", summary, "", LEGEND, ""]
        for title, png in made:
            section += ["**%s**" % title, "", "![%s](%s/%s)" % (title, rel, png), ""]
        section += ["Every run with its command, CPU and wait: [`%s/table.md`](%s/table.md); raw JSON lines: "
                    "[`%s/results.jsonl`](%s/results.jsonl)." % (rel, rel, rel, rel), "", END]
        text = open(docs_path).read()
        if BEGIN in text and END in text:
            a, b = text.index(BEGIN), text.index(END) + len(END)
            text = text[:a] + "\n".join(section) + text[b:]
        else:
            text = text.rstrip("\n") + "\n\n## Results\n\n" + "\n".join(section) + "\n"
        with open(docs_path, "w") as f:
            f.write(text)
    return "\n".join(body)
