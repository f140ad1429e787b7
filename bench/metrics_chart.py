#!/usr/bin/python3
"""Draw the Grafana dashboard's series (deploy/grafana/dispatch-dashboard.json) from a real run.

Starts the real `dispatch` on a free loopback port with bench/metrics-chart-config.yaml, drives
about a minute of traffic in phases, scrapes GET /metrics every second and plots the dashboard's
main panels, computed from the scraped counters the way its PromQL does (rates over a 5 s
window, histogram_quantile over 10 s), to docs/images/dashboard-run.png:

  ramp        200 idle connections open in eight steps (bench/loadgen idle)
  chat        echo (10 connections, 200 msg/s) and a room fan-out (20 members, 10 posts/s,
              200 deliveries/s) (bench/loadgen echo / fanout); a few app clients post orders to
              a webhook target that answers 204, and audits to one that answers 500 (retried,
              then failed)
  errors      refused upgrades (invalid and missing tokens, a forbidden origin), messages that
              are forbidden, rate limited, unknown or not JSON; the error budget closes the
              offender (1008), which reconnects
  slow        a room fan-out with three members that stop reading: slow-consumer closes
  reload      a broken config on SIGHUP (refused), then the good one (applied: version 2)
  disconnect  clients sign out (the server closes 4003), vanish (1006), the idle ones leave

Only loopback, every process bounded in time. Needs the `dispatch` and `dispatch_loadgen`
targets built and Debian's python3-matplotlib and python3-websockets:

  cmake --build build --target dispatch dispatch_loadgen
  /usr/bin/python3 bench/metrics_chart.py                 # ~60 s, writes docs/images/dashboard-run.png
  /usr/bin/python3 bench/metrics_chart.py --duration 20 --out /tmp/run.png   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import os
import re
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from dispatch_harness import (DispatchServer, http_request, make_token, open_client,  # noqa: E402
                              raw_upgrade, request)
from test_webhooks import Receiver  # noqa: E402

CONFIG = os.path.join(ROOT, "bench", "metrics-chart-config.yaml")
SECRET = "metrics-chart-secret-0123456789abcdef0123456789"
RATE_WINDOW = 5.0       # s: the charts' rate(...[5s])
QUANTILE_WINDOW = 10.0  # s: one message in 64 is timed, so the histogram needs a longer window


# ------------------------------------------------------------------------------------------------
# Scraping
# ------------------------------------------------------------------------------------------------

_SAMPLE = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict:
    """{(name, ((label, value), ...)): value} of a Prometheus text exposition."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            labels = tuple(sorted(_LABEL.findall(m.group(2) or "")))
            samples[(m.group(1), labels)] = float(m.group(3))
    return samples


class Scraper(threading.Thread):
    """GET /metrics once a second: .times (s since start) and .samples (parsed scrapes)."""

    def __init__(self, port: int, t0: float):
        super().__init__(daemon=True)
        self.port, self.t0 = port, t0
        self.times: list[float] = []
        self.samples: list[dict] = []
        self.stopping = threading.Event()

    def scrape(self) -> None:
        response = http_request(self.port, "GET", "/metrics", timeout=5)
        if response.status != 200:
            raise RuntimeError(f"GET /metrics answered {response.status}")
        self.times.append(time.monotonic() - self.t0)
        self.samples.append(parse_metrics(response.body.decode()))

    def run(self) -> None:
        tick = self.t0
        while not self.stopping.is_set():
            self.scrape()
            tick += 1.0
            self.stopping.wait(max(0.0, tick - time.monotonic()))


# ------------------------------------------------------------------------------------------------
# Traffic
# ------------------------------------------------------------------------------------------------

class Run:
    """The phases of one run, on a time line scaled to --duration."""

    def __init__(self, server: DispatchServer, loadgen: str, duration: float, t0: float):
        self.server, self.loadgen, self.duration, self.t0 = server, loadgen, duration, t0
        self.processes: list[tuple[str, asyncio.subprocess.Process]] = []
        self.notes: list[str] = []
        self.phases: list[tuple[str, float, float]] = []

    def at(self, fraction: float) -> float:
        return fraction * self.duration

    async def sleep_until(self, fraction: float) -> None:
        await asyncio.sleep(max(0.0, self.t0 + self.at(fraction) - time.monotonic()))

    async def client(self, user: str):
        return await open_client(self.server, token=make_token(user, secret=SECRET))

    async def loadgen_run(self, label: str, start: float, *args) -> None:
        await self.sleep_until(start)
        process = await asyncio.create_subprocess_exec(
            self.loadgen, *args, "--port", str(self.server.port), "--secret", SECRET,
            "--label", label, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        self.processes.append((label, process))
        out, _ = await process.communicate()
        last = out.decode(errors="replace").strip().splitlines()[-1:] or [""]
        self.notes.append(f"loadgen {label}: exit {process.returncode} {last[0][:160]}")

    async def ramp_and_idle(self) -> None:
        """Eight steps of 25 idle connections; each step leaves in turn near the end."""
        runs = []
        for step in range(8):
            start, end = 0.02 + 0.025 * step, 0.75 + 0.025 * step
            hold = max(1.0, self.at(end) - self.at(start) - 1.0)
            runs.append(self.loadgen_run(f"idle-{step}", start, "idle", "--conns", "25",
                                         "--hold", f"{hold:.1f}", "--warmup", "0",
                                         "--rooms", "5", "--id-base", str(1000 + 25 * step)))
        await asyncio.gather(*runs)

    async def chat(self) -> None:
        seconds = f"{self.at(0.6):.1f}"
        await asyncio.gather(
            self.loadgen_run("echo", 0.2, "echo", "--conns", "10", "--rate", "200", "--size",
                             "120", "--seconds", seconds, "--warmup", "0", "--threads", "1",
                             "--id-base", "2000"),
            self.loadgen_run("fanout", 0.2, "fanout", "--members", "20", "--rate", "10",
                             "--size", "200", "--seconds", seconds, "--warmup", "0",
                             "--room", "lobby", "--id-base", "3000"))

    async def slow_readers(self) -> None:
        await self.loadgen_run("fanout-slow", 0.55, "fanout", "--members", "8", "--slow", "3",
                               "--rate", "80", "--size", "30000", "--seconds",
                               f"{self.at(0.1):.1f}", "--warmup", "0", "--room", "slow",
                               "--id-base", "4000")

    async def app_clients(self) -> None:
        """Four shop clients: orders (webhook delivered) and audits (webhook failing)."""
        await self.sleep_until(0.2)
        clients = [await self.client(f"shop{i}") for i in range(4)]
        ref = 0
        while time.monotonic() < self.t0 + self.at(0.8):
            for i, ws in enumerate(clients):
                ref += 1
                event = "audit" if ref % 8 == 0 else "order"
                await request(ws, {"event": event, "id": ref, "payload": {"n": ref}}, timeout=5)
            await asyncio.sleep(0.5)
        for ws in clients:
            await ws.close()

    async def errors(self) -> None:
        """Refused upgrades and refused messages; the error budget closes the offender."""
        await self.sleep_until(0.4)
        port = self.server.port
        refusals = [
            lambda: raw_upgrade(port, token=make_token("eve", secret="not-the-secret")),
            lambda: raw_upgrade(port, token=None),
            lambda: raw_upgrade(port, token=make_token("eve", secret=SECRET),
                                headers={"Origin": "https://evil.example"}),
        ]
        bad_messages = [{"event": "moderate"}, {"event": "limited"}, {"event": "nope"}, None]
        mallory, ref, tick = None, 0, 0
        while time.monotonic() < self.t0 + self.at(0.5):
            tick += 1
            await asyncio.to_thread(refusals[tick % 3])
            if tick % 2 == 0:
                await asyncio.to_thread(refusals[0])
            if mallory is None or mallory.closed:
                try:
                    mallory = await self.client("mallory")
                except Exception as e:  # a busy machine: try again next round
                    self.notes.append(f"errors: reconnect failed once: {e!r}")
                    mallory = None
                    await asyncio.sleep(0.08)
                    continue
            ref += 1
            message = bad_messages[tick % len(bad_messages)]
            try:
                if message is None:
                    await mallory.send("{not json")
                else:
                    await mallory.send(json.dumps({**message, "id": ref}))
            except Exception:  # closed by the error budget: reconnect next round
                mallory = None
            await asyncio.sleep(0.08)
        if mallory is not None and not mallory.closed:
            await mallory.close()

    async def leavers(self) -> None:
        """Twenty clients: ten sign out (the server closes 4003), ten vanish (1006)."""
        await self.sleep_until(0.3)
        clients = [await self.client(f"p{i}") for i in range(20)]
        await self.sleep_until(0.82)
        for i, ws in enumerate(clients[:10]):
            await ws.send(json.dumps({"event": "leave", "id": i}))
            await asyncio.sleep(0.1)
        await self.sleep_until(0.86)
        for ws in clients[10:]:
            ws.transport.abort()
            await asyncio.sleep(0.1)
        for ws in clients[:10]:
            await ws.wait_closed()

    async def reloads(self) -> None:
        """A broken config on SIGHUP (refused), then the good one again (applied)."""
        good = self.server.config_text
        await self.sleep_until(0.68)
        self.server.write_config(good.replace("events:", "events: [", 1))
        self.server.send_signal(1)  # SIGHUP
        await self.sleep_until(0.7)
        self.server.write_config(good)
        self.server.send_signal(1)

    async def main(self) -> None:
        self.phases = [("ramp", 0.02, 0.2), ("chat", 0.2, 0.8), ("errors", 0.4, 0.5),
                       ("slow readers", 0.55, 0.65), ("reload", 0.68, 0.72),
                       ("disconnects", 0.75, 0.95)]
        self.phases = [(name, self.at(a), self.at(b)) for name, a, b in self.phases]
        try:
            await asyncio.wait_for(asyncio.gather(
                self.ramp_and_idle(), self.chat(), self.slow_readers(), self.app_clients(),
                self.errors(), self.leavers(), self.reloads()), self.duration + 60)
        finally:
            for label, process in self.processes:
                if process.returncode is None:
                    process.kill()
                    self.notes.append(f"loadgen {label}: killed at the end")
        await self.sleep_until(1.0)


# ------------------------------------------------------------------------------------------------
# PromQL-like views of the scrapes
# ------------------------------------------------------------------------------------------------

class Series:
    def __init__(self, times: list[float], samples: list[dict]):
        self.times, self.samples = times, samples

    def _grouped(self, name: str, by=(), where=None) -> dict:
        """{group: [sum at each scrape]} of the samples of `name` (sum by (by...))."""
        groups: dict[tuple, list[float]] = {}
        for index, scrape in enumerate(self.samples):
            for (sample_name, labels), value in scrape.items():
                if sample_name != name:
                    continue
                label_map = dict(labels)
                if where and not where(label_map):
                    continue
                key = tuple(label_map.get(label, "") for label in by)
                groups.setdefault(key, [0.0] * len(self.samples))[index] += value
        return groups

    def gauge(self, name: str, by=(), where=None) -> dict:
        return self._grouped(name, by, where)

    def _back(self, index: int, window: float) -> int:
        """The last scrape at least `window` s before scrape `index` (else the first one)."""
        return max(0, bisect.bisect_right(self.times, self.times[index] - window + 0.1) - 1)

    def rate(self, name: str, by=(), where=None, window: float = RATE_WINDOW) -> dict:
        """sum by (by) (rate(name[window])): a series that did not exist yet counts from 0."""
        result = {}
        for key, values in self._grouped(name, by, where).items():
            rates = []
            for i in range(len(values)):
                j = self._back(i, window)
                span = self.times[i] - self.times[j]
                rates.append((values[i] - values[j]) / span if span > 0 else 0.0)
            result[key] = rates
        return result

    def increase(self, name: str, by=(), where=None, window: float = RATE_WINDOW) -> dict:
        return {key: [r * window for r in rates]
                for key, rates in self.rate(name, by, where, window).items()}

    def histogram_quantile(self, q: float, name: str, window: float = QUANTILE_WINDOW) -> list:
        """histogram_quantile(q, sum by (le) (rate(name_bucket[window]))), as Prometheus
        interpolates: linearly inside the bucket, the lowest bucket from 0."""
        buckets = self.rate(name + "_bucket", by=("le",), window=window)
        bounds = sorted(buckets, key=lambda key: float(key[0]))
        result = []
        for i in range(len(self.times)):
            counts = [buckets[b][i] for b in bounds]
            total = counts[-1] if counts else 0.0
            if total <= 0:
                result.append(math.nan)
                continue
            rank = q * total
            value = math.nan
            for k, bound in enumerate(bounds):
                if counts[k] >= rank:
                    upper = float(bound[0])
                    if math.isinf(upper):
                        value = float(bounds[k - 1][0]) if k > 0 else math.nan
                        break
                    lower = float(bounds[k - 1][0]) if k > 0 else 0.0
                    below = counts[k - 1] if k > 0 else 0.0
                    inside = counts[k] - below
                    value = lower + (upper - lower) * ((rank - below) / inside if inside else 1)
                    break
            result.append(value)
        return result


# ------------------------------------------------------------------------------------------------
# The chart
# ------------------------------------------------------------------------------------------------

# Errors in warm colours, the rest in cool ones (as the dashboard's red overrides).
ERROR_COLOURS = ["#d62728", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#ff9896", "#c49c94"]
OTHER_COLOURS = ["#1f77b4", "#2ca02c", "#17becf", "#9467bd", "#7f7f7f", "#aec7e8", "#98df8a",
                 "#393b79", "#637939", "#5254a3"]


def draw(series: Series, phases, out: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = series.times
    fig, axes = plt.subplots(4, 3, figsize=(18, 17), sharex=True)
    fig.suptitle(title, fontsize=14, y=0.995)
    phase_colours = ["#e8f0fe", "#eaf6ea", "#fdecea", "#fff4e0", "#f3e8fd", "#eeeeee"]

    def panel(ax, heading, unit):
        ax.set_title(heading, fontsize=11, loc="left")
        ax.set_ylabel(unit, fontsize=9)
        ax.grid(True, alpha=0.3)
        for (name, a, b), colour in zip(phases, phase_colours):
            ax.axvspan(a, b, color=colour, alpha=0.6, lw=0, zorder=0)
        ax.tick_params(labelsize=8)

    def lines(ax, groups: dict, label, errors=lambda key: False):
        for key in sorted(groups):
            values = groups[key]
            if not any(v for v in values if not math.isnan(v)):
                continue  # a series that stayed at 0 (Grafana would show it flat)
            drawn = ax.get_lines()
            if errors(key):
                used = sum(1 for line in drawn if line.get_color() in ERROR_COLOURS)
                ax.plot(t, values, label=label(key), lw=1.8,
                        color=ERROR_COLOURS[used % len(ERROR_COLOURS)])
            else:
                used = sum(1 for line in drawn if line.get_color() in OTHER_COLOURS)
                ax.plot(t, values, label=label(key), lw=1.2,
                        color=OTHER_COLOURS[used % len(OTHER_COLOURS)])

    def legend(ax):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7.5, loc="upper left", ncol=2, framealpha=0.8)

    ax = axes[0][0]
    panel(ax, "Open connections", "connections")
    lines(ax, series.gauge("dispatch_connections"), lambda k: "open")
    lines(ax, series.gauge("dispatch_handshakes_in_progress"), lambda k: "handshaking")
    legend(ax)

    ax = axes[0][1]
    panel(ax, "Connections opened / closed per second", "per second")
    lines(ax, series.rate("dispatch_connections_opened_total"), lambda k: "opened")
    lines(ax, series.rate("dispatch_connections_closed_total", by=("by", "code")),
          lambda k: f"closed by {k[0]} {k[1]}", errors=lambda k: k[0] != "client")
    legend(ax)

    ax = axes[0][2]
    panel(ax, "Refused connections per second", "per second")
    lines(ax, series.rate("dispatch_connections_refused_total", by=("code",)), lambda k: k[0],
          errors=lambda k: True)
    legend(ax)

    ax = axes[1][0]
    panel(ax, "Messages per second", "per second")
    lines(ax, series.rate("dispatch_messages_in_total"), lambda k: "in")
    lines(ax, series.rate("dispatch_messages_out_total"), lambda k: "out")
    lines(ax, series.rate("dispatch_messages_refused_total", by=("code",)),
          lambda k: f"refused {k[0]}", errors=lambda k: True)
    ax.set_yscale("symlog", linthresh=1)
    ax.set_title("Messages per second (log scale)", fontsize=11, loc="left")
    legend(ax)

    ax = axes[1][1]
    panel(ax, "Bytes per second", "KiB/s")
    for name, label in (("dispatch_bytes_in_total", "in"), ("dispatch_bytes_out_total", "out")):
        lines(ax, {k: [v / 1024 for v in vs] for k, vs in series.rate(name).items()},
              lambda k, label=label: label)
    legend(ax)

    ax = axes[1][2]
    panel(ax, "Message duration (p50, p99, mean)", "µs")
    for q in (0.5, 0.99):
        ax.plot(t, [v * 1e6 for v in series.histogram_quantile(
            q, "dispatch_message_duration_seconds")], label=f"p{int(q * 100)}")
    sums = series.rate("dispatch_message_duration_seconds_sum", window=QUANTILE_WINDOW)
    counts = series.rate("dispatch_message_duration_seconds_count", window=QUANTILE_WINDOW)
    if sums and counts:
        s, c = sums[()], counts[()]
        ax.plot(t, [a / b * 1e6 if b else math.nan for a, b in zip(s, c)], label="mean", lw=1)
    legend(ax)

    ax = axes[2][0]
    panel(ax, "Event messages per second by outcome (errors in red/orange; log scale)",
          "per second")
    lines(ax, series.rate("dispatch_event_messages_total", by=("event", "outcome")),
          lambda k: f"{k[0]} {k[1]}", errors=lambda k: k[1] != "ok")
    ax.set_yscale("symlog", linthresh=1)
    legend(ax)

    ax = axes[2][1]
    panel(ax, "Send queue bytes", "KiB")
    lines(ax, {k: [v / 1024 for v in vs]
               for k, vs in series.gauge("dispatch_send_queue_bytes").items()},
          lambda k: "queued for clients")
    legend(ax)

    ax = axes[2][2]
    panel(ax, "Dropped frames and slow-consumer closes per second", "per second")
    ax.plot(t, series.rate("dispatch_send_queue_dropped_frames_total").get((), [0] * len(t)),
            label="dropped frames", color=ERROR_COLOURS[1])
    ax.plot(t, series.rate("dispatch_slow_consumer_closes_total").get((), [0] * len(t)),
            label="slow-consumer closes", color=ERROR_COLOURS[0], lw=1.8)
    legend(ax)

    ax = axes[3][0]
    panel(ax, "Webhook deliveries per second", "per second")
    lines(ax, series.rate("dispatch_webhook_deliveries_total", by=("target", "outcome")),
          lambda k: f"{k[0]} {k[1]}", errors=lambda k: k[1] != "delivered")
    legend(ax)

    ax = axes[3][1]
    panel(ax, "Webhook retries per second", "per second")
    lines(ax, series.rate("dispatch_webhook_retries_total", by=("target",)), lambda k: k[0])
    legend(ax)

    ax = axes[3][2]
    panel(ax, "Config version and reloads", "")
    lines(ax, series.gauge("dispatch_config_version"), lambda k: "config version")
    lines(ax, series.increase("dispatch_config_reloads_total", by=("result",)),
          lambda k: f"reloads {k[0]} (5 s)", errors=lambda k: k[0] == "refused")
    ax.set_ylim(bottom=0)
    legend(ax)

    for ax in axes[-1]:
        ax.set_xlabel("seconds since start", fontsize=9)
    for row in axes:
        for ax in row:
            ax.set_xlim(0, t[-1] if t else 1)
    handles = [matplotlib.patches.Patch(color=colour, label=name)
               for (name, _, _), colour in zip(phases, phase_colours)]
    fig.legend(handles=handles, loc="upper center", ncol=len(handles), fontsize=9,
               bbox_to_anchor=(0.5, 0.975), title="phases (shaded)", title_fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=72)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0,
                        help="length of the run in seconds (default 60; at least 15)")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "images", "dashboard-run.png"))
    parser.add_argument("--dispatch", default=os.environ.get(
        "DISPATCH_BIN", os.path.join(ROOT, "build", "dispatch")))
    parser.add_argument("--loadgen", default=os.environ.get(
        "DISPATCH_LOADGEN", os.path.join(ROOT, "build", "tests", "dispatch_loadgen")))
    parser.add_argument("--scrapes", help="also write the scrapes as JSON lines to this file")
    args = parser.parse_args()
    args.dispatch, args.loadgen = os.path.abspath(args.dispatch), os.path.abspath(args.loadgen)
    if args.duration < 15:
        parser.error("--duration must be at least 15 (s)")
    for path in (args.dispatch, args.loadgen):
        if not os.access(path, os.X_OK):
            parser.error(f"not built: {path} "
                         "(cmake --build build --target dispatch dispatch_loadgen)")

    receiver = Receiver()
    with open(CONFIG, encoding="utf-8") as f:
        config_text = f.read()
    env = {"DISPATCH_JWT_SECRET": SECRET, "DISPATCH_CHART_HOOK_PORT": str(receiver.port)}
    with DispatchServer(config_text, env=env, binary=args.dispatch) as server:
        t0 = time.monotonic()
        scraper = Scraper(server.port, t0)
        scraper.start()
        run = Run(server, args.loadgen, args.duration, t0)
        try:
            asyncio.run(run.main())
        finally:
            scraper.stopping.set()
            scraper.join(10)
        version = next((dict(labels).get("version") for (name, labels) in scraper.samples[-1]
                        if name == "dispatch_build_info"), "?")
        for note in run.notes:
            print(note)
        status = server.stop(15)  # SIGTERM: a clean exit is 0
        if status != 0:
            print(f"metrics_chart: dispatch exited with {status}; its output ends:\n"
                  + "\n".join(server.output().splitlines()[-40:]), file=sys.stderr)
    receiver.httpd.shutdown()
    if status != 0:
        return 1

    if args.scrapes:
        with open(args.scrapes, "w", encoding="utf-8") as f:
            for t, scrape in zip(scraper.times, scraper.samples):
                f.write(json.dumps({"t": round(t, 3), "samples": {
                    name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels) + "}" if labels
                            else ""): value
                    for (name, labels), value in scrape.items()}}) + "\n")
    series = Series(scraper.times, scraper.samples)
    draw(series, run.phases, args.out,
         f"Dispatch {version}: the dashboard's series from a real {args.duration:.0f} s run "
         f"(bench/metrics_chart.py; GET /metrics scraped every second, rates over "
         f"{RATE_WINDOW:.0f} s, quantiles over {QUANTILE_WINDOW:.0f} s)")
    print(f"metrics_chart: {len(scraper.times)} scrapes, chart written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
