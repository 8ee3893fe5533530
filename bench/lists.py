#!/usr/bin/env python3
"""Issue 16's list workloads on its shop (bench/shop.py: 1,000,000 orders, 100,000
customers, `status` unindexed), on SQLite and/or Postgres, with wrk -t2 -c32 while signed in:

  L1   /data/orders?sort=-created_at&per_page=50
  L2   /data/customers?q=smith&sort=-created_at&per_page=50
  L3n  /data/orders?status__eq=paid&sort=-created_at&per_page=50&page=200   (OFFSET)
  L3k  the same page 200 reached by following "Next" from page 1 (the keyset cursor URL)
  L4   /data/orders/500000
  L5   record-form POSTs changing `note` on distinct orders, each with its own _version

For each: req/s, p50, p99, and CPU per request — utime+stime of the server plus the
Postgres backends serving this database (from /proc/<pid>/stat, deltas over the run,
divided by the requests wrk counted), which stays meaningful on a busy shared machine.
Memory: RSS idle, after 50 sign-ins, after L1-L5, the peak (VmHWM), thread count, and
the anonymous / file split of /proc/<pid>/smaps_rollup.

Usage: bench/lists.py PATH/TO/gatehouse [--quick] [--backend sqlite|postgres|both]
          [--orders N] [--duration S] [--postgres URL]
The generated dataset is kept (bench/out/shop-N.db, Postgres database gh_bench_shop_N) and
copied for each run, so a re-run does not regenerate it.
"""
import argparse, concurrent.futures, html, os, platform, random, re, shutil, subprocess, sys
import tempfile, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import PASSWORD, free_port, parse_wrk, request, requests_in, rss_kib, sign_in, wait_healthy  # noqa: E402
import shop  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TICK = os.sysconf("SC_CLK_TCK")
# One database per run: two runs at once on a shared machine must not drop each other's.
BENCH_DB = f"gh_bench_lists_{os.getpid()}"


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime
    except OSError:
        return 0


def mem(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                out[k] = int(v.split()[0])
    return out


def pg_pids(pg_url):
    """The Postgres backends serving the bench database (the pool keeps them open)."""
    db = pg_url.rsplit("/", 1)[1]
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    out = subprocess.run(["psql", admin, "-Atqc", f"SELECT pid FROM pg_stat_activity WHERE datname = '{db}'"],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


class Meter:
    """CPU of the server (and its Postgres backends) over one workload."""

    def __init__(self, pid, pg_url):
        self.pid, self.pg_url = pid, pg_url

    def ticks(self):
        pids = [self.pid] + (pg_pids(self.pg_url) if self.pg_url else [])
        return {p: cpu_ticks(p) for p in pids}

    def start(self):
        self.before = self.ticks()

    def ms_per(self, requests):
        after = self.ticks()
        server = (after[self.pid] - self.before[self.pid]) * 1000 / TICK
        pg = sum(after[p] - self.before.get(p, 0) for p in after if p != self.pid) * 1000 / TICK
        return server / max(requests, 1), pg / max(requests, 1)


def wrk(port, path, duration, warm, session, meter, script=None):
    base = ["wrk", "-t2", "-c32", "--latency", "-H", f"Cookie: gh_session={session}"]
    if script:
        base += ["-s", script]
    url = f"http://127.0.0.1:{port}{path}"
    if warm and not script:
        subprocess.run(base + [f"-d{warm}s", url], capture_output=True)
    meter.start()
    out = subprocess.run(base + [f"-d{duration}s", url], capture_output=True, text=True).stdout
    rps, p50, p99, errors, sock = parse_wrk(out)
    n, secs = requests_in(out)
    # The slowest request: a starved one (waiting unfairly for a connection) shows here.
    m = re.search(r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out, re.M)
    worst = (float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]) if m else 0.0
    if script:  # L5 counts successful updates only (a version is good once).
        rps = (n - errors) / secs
        if secs < duration - 0.5:
            print(f"L5: the prepared rows were spent after {secs:.1f} s of {duration} s", file=sys.stderr)
    server_ms, pg_ms = meter.ms_per(n)
    return dict(rps=rps, p50=p50, p99=p99, errors=errors, sock=sock, server_ms=server_ms, pg_ms=pg_ms, n=n, secs=secs, worst=worst)


def page_200_by_links(port, session, start, pages=200):
    url = start
    for _ in range(pages - 1):
        _, body = request(port, "GET", url, headers={"Cookie": f"gh_session={session}"})
        m = re.search(rb'href="([^"]+)" rel="next"', body)
        if not m:
            raise SystemExit(f"no next link on {url}")
        url = html.unescape(m.group(1).decode())
    return url


def prepare_updates(port, session, csrf, n, max_id, work):
    ids = random.Random(16).sample(range(1, max_id + 1), n)
    def fetch(i):
        _, body = request(port, "GET", f"/data/orders/{i}", headers={"Cookie": f"gh_session={session}"})
        m = re.search(rb'name="_version" value="([0-9a-f]+)"', body)
        return i, m.group(1).decode() if m else None
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        pairs = [p for p in ex.map(fetch, ids) if p[1]]
    path = os.path.join(work, "updates.lua")
    with open(path, "w") as f:
        f.write("local items = {\n")
        for i, v in pairs:
            body = urllib.parse.urlencode({"csrf_token": csrf, "_version": v, "f.note": f"bench note {i}"})
            f.write(f'{{"/data/orders/{i}", "{body}"}},\n')
        f.write("}\n")
        f.write("""
-- Each version is good once: thread k posts items k+1, k+3, ...; once its share is spent it
-- stops (wrk then reports the time actually run), instead of re-posting spent versions.
local counter = 0
local threads = {}
function setup(thread) thread:set("offset", #threads) table.insert(threads, thread) end
function init(args) counter = offset end
function request()
  local item = items[math.min(counter, #items - 1) + 1]
  counter = counter + 2
  return wrk.format("POST", item[1], {["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = "gh_session=SESSION"}, item[2])
end
function response(status, headers, body)
  if counter >= #items then wrk.thread:stop() end
end
""".replace("SESSION", session))
    return path, len(pairs)


def dataset(backend, orders, pg_admin, work):
    """A fresh copy of the shop: a file copy on SQLite, a template copy on Postgres."""
    if backend == "sqlite":
        os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
        cached = os.path.join(HERE, "out", f"shop-{orders}.db")
        if not os.path.exists(cached):
            shop.load("sqlite", cached + ".tmp", orders)
            subprocess.run(["sqlite3", cached + ".tmp", "PRAGMA wal_checkpoint(TRUNCATE);"], check=True, capture_output=True)
            os.replace(cached + ".tmp", cached)
        path = os.path.join(work, "shop.db")
        shutil.copy(cached, path)
        return f"sqlite://{path}"
    template = f"gh_bench_shop_{orders}"
    exists = subprocess.run(["psql", pg_admin, "-Atqc", f"SELECT 1 FROM pg_database WHERE datname = '{template}'"],
                            capture_output=True, text=True).stdout.strip()
    if not exists:
        subprocess.run(["psql", pg_admin, "-qc", f"CREATE DATABASE {template}_tmp"], check=True)
        shop.load("postgres", pg_admin.rsplit("/", 1)[0] + f"/{template}_tmp", orders)
        subprocess.run(["psql", pg_admin, "-qc", f"ALTER DATABASE {template}_tmp RENAME TO {template}"], check=True)
    subprocess.run(["psql", pg_admin, "-qc", f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"], check=True)
    subprocess.run(["psql", pg_admin, "-qc", f"CREATE DATABASE {BENCH_DB} TEMPLATE {template}"], check=True)
    return pg_admin.rsplit("/", 1)[0] + f"/{BENCH_DB}"


def run(binary, backend, orders, duration, warm, pg_admin, updates):
    work = tempfile.mkdtemp(prefix="gh-bench-lists-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(GATEHOUSE_LOG="warn", GATEHOUSE_DATA_DIR=os.path.join(work, "data"), GATEHOUSE_API_RATE_LIMIT="1000000000")
    t0 = time.monotonic()
    url = dataset(backend, orders, pg_admin, work)
    env["GATEHOUSE_DATABASE_URL"] = url
    port = free_port()
    env["GATEHOUSE_LISTEN"] = f"127.0.0.1:{port}"
    subprocess.run([binary, "user", "create", "--email", "bench@example.com", "--name", "Bench", "--admin",
                    "--password-stdin"], input=PASSWORD + "\n", text=True, env=env, check=True, capture_output=True)
    setup_s = time.monotonic() - t0
    p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows, memory = [], {}
    try:
        wait_healthy(port)
        time.sleep(0.5)
        memory["idle"] = mem(p.pid)
        for _ in range(50):
            session, csrf = sign_in(port)
        memory["after 50 sign-ins"] = mem(p.pid)
        meter = Meter(p.pid, url if backend == "postgres" else None)
        run_wrk = lambda path, script=None: wrk(port, path, duration, warm, session, meter, script)
        rows.append(("L1 orders, newest first", run_wrk("/data/orders?sort=-created_at&per_page=50")))
        rows.append(("L2 customers q=smith, newest first", run_wrk("/data/customers?q=smith&sort=-created_at&per_page=50")))
        l3 = "/data/orders?status__eq=paid&sort=-created_at&per_page=50"
        rows.append(("L3 paid orders, page=200 (OFFSET)", run_wrk(l3 + "&page=200")))
        t = time.monotonic()
        by_links = page_200_by_links(port, session, l3)
        walk_s = time.monotonic() - t
        rows.append((f"L3 the same page 200 by Next links (walk of 199 links: {walk_s:.1f} s)", run_wrk(by_links)))
        rows.append(("L4 one order's record page", run_wrk(f"/data/orders/{orders // 2}")))
        script, n = prepare_updates(port, session, csrf, updates, orders, work)
        l5 = run_wrk("/", script)
        spent = f", all spent after {l5['secs']:.1f} s" if l5["secs"] < duration - 0.5 else ""
        rows.append((f"L5 successful note updates/s ({n} distinct rows{spent})", l5))
        memory["after L1-L5"] = mem(p.pid)
        with open(f"/proc/{p.pid}/smaps_rollup") as f:
            rollup = f.read()
    finally:
        p.terminate(); p.wait()
        if backend == "postgres":
            subprocess.run(["psql", pg_admin, "-qc", f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)"])
        shutil.rmtree(work, ignore_errors=True)
    cpu = "server + postgres" if backend == "postgres" else "server"
    print(f"### {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {backend} · {orders:,} orders · "
          f"{platform.node()} · {os.cpu_count()} cores · wrk -t2 -c32 -d{duration}s\n")
    print(f"Dataset copy + setup: {setup_s:.1f} s.\n")
    print(f"| workload | req/s | p50 | p99 | p99/p50 | max | CPU/req ({cpu}) | non-2xx/3xx |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in rows:
        cpu_s = f"{r['server_ms']:.3f} ms" if backend == "sqlite" else \
            f"{r['server_ms'] + r['pg_ms']:.3f} ms ({r['server_ms']:.3f} + {r['pg_ms']:.3f})"
        print(f"| {name} | {r['rps']:,.0f} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | "
              f"{r['p99'] / max(r['p50'], 0.001):.1f} | {r['worst']:.0f} ms | {cpu_s} | {r['errors']} |")
    print("\n| server memory | RSS | anonymous | file | peak (VmHWM) | threads |")
    print("|---|---|---|---|---|---|")
    for name, m in memory.items():
        print(f"| {name} | {m['VmRSS'] / 1024:.1f} MiB | {m.get('RssAnon', 0) / 1024:.1f} MiB | "
              f"{m.get('RssFile', 0) / 1024:.1f} MiB | {m['VmHWM'] / 1024:.1f} MiB | {m.get('Threads', 0)} |")
    fields = dict(re.findall(r"^(\w+):\s+(\d+) kB", rollup, re.M))
    print("\nsmaps_rollup after L1-L5: " + ", ".join(
        f"{k} {int(fields[k]) / 1024:.1f} MiB" for k in ("Rss", "Anonymous", "Private_Dirty", "Shared_Clean", "Private_Clean")
        if k in fields) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--quick", action="store_true", help="4 s per workload, 1 s warm-up (regression check)")
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--duration", type=int, default=None)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    a = ap.parse_args()
    duration = a.duration or (4 if a.quick else 15)
    warm = 1 if a.quick else 3
    updates = 20000 if a.quick else 60000
    for backend in (["sqlite", "postgres"] if a.backend == "both" else [a.backend]):
        run(a.binary, backend, a.orders, duration, warm, a.postgres, updates)


if __name__ == "__main__":
    sys.exit(main())
