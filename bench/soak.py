#!/usr/bin/env python3
"""Issue 14's soak: the release binary on the 1M-order shop (bench/shop.py) for 10 minutes
under a moderate mixed load — signed-in list pages (newest orders at varying pages, a
customer search), record pages, record updates through the form, API lists, API reads and
API PATCHes — paced to a fixed rate (default 40 requests/s, well under capacity, so that
the shared machine is not saturated and latency reflects the server, not the queue).

Every 10 s it samples the server's RSS and open file descriptors (/proc/<pid>), and the
requests, errors (anything but 2xx/3xx, and transport errors) and p50/p99 latency of the
window. Prints a Markdown table for bench/RESULTS.md and a verdict: RSS and fds after the
warm-up (the first 2 minutes) should stay flat, and there should be no errors.

Usage: bench/soak.py PATH/TO/gatehouse [--backend sqlite|postgres] [--orders N]
          [--duration S] [--rate R] [--postgres URL]
"""
import argparse, http.client, os, random, re, statistics, subprocess, sys, tempfile, threading, time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import PASSWORD, api_token, free_port, sign_in, wait_healthy  # noqa: E402
from lists import dataset, mem  # noqa: E402

SAMPLE_EVERY = 10


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.window = []  # (seconds, ok)
        self.total = self.errors = 0
        self.error_kinds = {}

    def note(self, took, ok, kind=None):
        with self.lock:
            self.window.append((took, ok))
            self.total += 1
            if not ok:
                self.errors += 1
                self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1

    def take(self):
        with self.lock:
            w, self.window = self.window, []
        return w


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


class Client:
    """One keep-alive connection, signed in (cookie) or with an API token."""

    def __init__(self, port, session, csrf, token):
        self.port, self.session, self.csrf, self.token = port, session, csrf, token
        self.conn = None

    def call(self, method, path, body=None, headers=None, api=False):
        h = dict(headers or {})
        if api:
            h["Authorization"] = f"Bearer {self.token}"
        else:
            h["Cookie"] = f"gh_session={self.session}"
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.conn.close(); self.conn = None
                return r.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # An idle keep-alive connection the server closed: reconnect once.
                self.conn.close(); self.conn = None
                if attempt:
                    raise


def one_request(c, orders, customers_q):
    """One request of the mix; returns (status, kind)."""
    roll = random.random()
    order = random.randint(1, orders)
    if roll < 0.30:
        page = random.choice([1, 1, 1, 2, 3, 10, 50])
        return c.call("GET", f"/data/orders?sort=-created_at&per_page=50&page={page}")[0], "list"
    if roll < 0.40:
        return c.call("GET", f"/data/customers?q={customers_q}&sort=-created_at&per_page=50")[0], "search"
    if roll < 0.55:
        return c.call("GET", f"/data/orders/{order}")[0], "record"
    if roll < 0.65:
        # The record form: read the row's version from its page, then save a new note.
        status, page = c.call("GET", f"/data/orders/{order}")
        version = re.search(rb'name="_version" value="([0-9a-f]+)"', page)
        if status != 200 or not version:
            return status if status != 200 else 599, "record-for-save"
        form = urllib.parse.urlencode({"csrf_token": c.csrf, "_version": version.group(1).decode(),
                                       "f.note": f"soak {time.time():.3f}"})
        status, _ = c.call("POST", f"/data/orders/{order}", form,
                           {"Content-Type": "application/x-www-form-urlencoded"})
        return status, "save"
    if roll < 0.80:
        return c.call("GET", "/api/v1/tables/orders/rows?sort=-created_at&per_page=50", api=True)[0], "api-list"
    if roll < 0.90:
        return c.call("GET", f"/api/v1/tables/orders/rows/{order}", api=True)[0], "api-read"
    body = '{"note": "api soak %d"}' % random.randint(0, 10**6)
    return c.call("PATCH", f"/api/v1/tables/orders/rows/{order}", body,
                  {"Content-Type": "application/json"}, api=True)[0], "api-patch"


def worker(port, session, csrf, token, orders, rate, stop, stats):
    c = Client(port, session, csrf, token)
    interval = 1.0 / rate
    next_at = time.monotonic()
    while not stop.is_set():
        t = time.monotonic()
        try:
            status, kind = one_request(c, orders, "smith")
            ok = 200 <= status < 400
            stats.note(time.monotonic() - t, ok, f"{kind} {status}")
        except Exception as e:  # noqa: BLE001 — every failure counts as an error
            c.conn = None
            stats.note(time.monotonic() - t, False, type(e).__name__)
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--duration", type=int, default=600)
    ap.add_argument("--warmup", type=int, default=120)
    ap.add_argument("--rate", type=float, default=40.0, help="requests per second in all")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="gh-soak-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(GATEHOUSE_LOG="warn", GATEHOUSE_DATA_DIR=os.path.join(work, "data"),
               GATEHOUSE_API_RATE_LIMIT="1000000000")
    env["GATEHOUSE_DATABASE_URL"] = dataset(a.backend, a.orders, a.postgres, work)
    port = free_port()
    env["GATEHOUSE_LISTEN"] = f"127.0.0.1:{port}"
    subprocess.run([a.binary, "user", "create", "--email", "bench@example.com", "--name", "Bench", "--admin",
                    "--password-stdin"], input=PASSWORD + "\n", text=True, env=env, check=True, capture_output=True)
    log = open(os.path.join(work, "server.log"), "w")
    p = subprocess.Popen([a.binary], env=env, stdout=log, stderr=log)
    try:
        wait_healthy(port)
        session, csrf = sign_in(port)
        token = api_token(port, session, csrf)
        stats, stop = Stats(), threading.Event()
        threads = [threading.Thread(target=worker, args=(port, session, csrf, token, a.orders, a.rate / a.clients,
                                                         stop, stats), daemon=True) for _ in range(a.clients)]
        for t in threads:
            t.start()
        rows, t0 = [], time.monotonic()
        while time.monotonic() - t0 < a.duration:
            time.sleep(SAMPLE_EVERY - (time.monotonic() - t0) % SAMPLE_EVERY)
            w = stats.take()
            lat = sorted(x[0] for x in w) or [0.0]
            m = mem(p.pid)
            row = (round(time.monotonic() - t0), m["VmRSS"] // 1024, fds(p.pid), len(w),
                   sum(1 for x in w if not x[1]), lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000)
            rows.append(row)
            print("t=%4ds rss=%4d MiB fds=%3d req=%4d err=%d p50=%.1f ms p99=%.1f ms" % row, flush=True)
        stop.set()
        for t in threads:
            t.join(timeout=35)
        peak = mem(p.pid)["VmHWM"] // 1024
    finally:
        p.terminate()
        try:
            code = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill(); code = "killed"
        log.close()

    after = [r for r in rows if r[0] > a.warmup]
    rss, fd = [r[1] for r in after], [r[2] for r in after]
    print(f"\n### {a.backend}, {a.orders:,} orders, {a.duration} s at {a.rate:g} req/s "
          f"({a.clients} clients), sampled every {SAMPLE_EVERY} s\n")
    print("| t (s) | RSS (MiB) | open fds | requests | errors | p50 (ms) | p99 (ms) |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r[0] % 60 < SAMPLE_EVERY or r is rows[-1]:
            print("| %d | %d | %d | %d | %d | %.1f | %.1f |" % r)
    print(f"\nAfter the {a.warmup} s warm-up: RSS {min(rss)}–{max(rss)} MiB (first {rss[0]}, last {rss[-1]}), "
          f"open fds {min(fd)}–{max(fd)}; peak RSS (VmHWM) {peak} MiB.")
    print(f"Requests {stats.total}, errors {stats.errors} {stats.error_kinds or ''}; "
          f"p50 of the windows' p50 {statistics.median(r[5] for r in rows):.1f} ms, "
          f"worst window p99 {max(r[6] for r in rows):.1f} ms. Exit code after SIGTERM: {code}.")
    print(f"Server log: {os.path.join(work, 'server.log')}")


if __name__ == "__main__":
    main()
