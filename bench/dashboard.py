#!/usr/bin/env python3
"""Issue 13's dashboard on the 1M-order shop (bench/shop.py), SQLite and/or Postgres,
wrk -t2 -c32 while signed in as an administrator:

  D1  /                                   cards and charts (cached 5 s per role)
  D2  /  with two pinned charts            orders by status, orders per month of created_at
  D3  /data/orders/chart?by=status         the chart tab (cached 5 s per role and query)

Before the runs, the first (uncached) load of each page is timed once: that is what the
database pays every 5 s at most, per role and query. Target: `/` >= 5,000 req/s.

Usage: bench/dashboard.py PATH/TO/gatehouse [--backend sqlite|postgres|both] [--orders N]
          [--duration S] [--postgres URL]
"""
import argparse, os, platform, shutil, subprocess, sys, tempfile, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import PASSWORD, free_port, request, sign_in, wait_healthy  # noqa: E402
from lists import Meter, dataset, wrk  # noqa: E402


def timed(port, session, path):
    t = time.monotonic()
    r, _ = request(port, "GET", path, headers={"Cookie": f"gh_session={session}"})
    assert r.status == 200, f"{path}: {r.status}"
    return (time.monotonic() - t) * 1000


def pin(port, session, csrf, title, query):
    form = urllib.parse.urlencode({"csrf_token": csrf, "title": title, "query": query, "for": "everyone"})
    r, _ = request(port, "POST", "/data/orders/chart/pins", form,
                   {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"gh_session={session}"})
    assert r.status == 303, f"pinning failed: {r.status}"


def run(binary, backend, orders, duration, pg_admin):
    work = tempfile.mkdtemp(prefix="gh-bench-dashboard-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(GATEHOUSE_LOG="warn", GATEHOUSE_DATA_DIR=os.path.join(work, "data"))
    env["GATEHOUSE_DATABASE_URL"] = url = dataset(backend, orders, pg_admin, work)
    port = free_port()
    env["GATEHOUSE_LISTEN"] = f"127.0.0.1:{port}"
    subprocess.run([binary, "user", "create", "--email", "bench@example.com", "--name", "Bench", "--admin",
                    "--password-stdin"], input=PASSWORD + "\n", text=True, env=env, check=True, capture_output=True)
    p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows, cold = [], []
    try:
        wait_healthy(port)
        session, csrf = sign_in(port)
        meter = Meter(p.pid, url if backend == "postgres" else None)
        time.sleep(6)  # past the cache's 5 s, so the next load is computed
        cold.append(("/ (cards and charts)", timed(port, session, "/")))
        rows.append(("D1 / (cards and charts)", wrk(port, "/", duration, 3, session, meter)))
        pin(port, session, csrf, "Orders by status", "by=status")
        pin(port, session, csrf, "Orders per month", "by=created_at&every=month")
        cold.append(("/ with two pinned charts", timed(port, session, "/")))
        rows.append(("D2 / with two pinned charts", wrk(port, "/", duration, 3, session, meter)))
        cold.append(("/data/orders/chart?by=created_at&every=week", timed(port, session, "/data/orders/chart?by=created_at&every=week")))
        rows.append(("D3 /data/orders/chart?by=status", wrk(port, "/data/orders/chart?by=status", duration, 3, session, meter)))
    finally:
        p.terminate(); p.wait()
        if backend == "postgres":
            subprocess.run(["psql", pg_admin, "-qc", "DROP DATABASE IF EXISTS gh_bench_lists WITH (FORCE)"])
        shutil.rmtree(work, ignore_errors=True)
    print(f"### {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {backend} · {orders:,} orders · "
          f"{platform.node()} · {os.cpu_count()} cores · wrk -t2 -c32 -d{duration}s\n")
    print("| first (uncached) load | ms |\n|---|---|")
    for name, ms in cold:
        print(f"| {name} | {ms:,.0f} |")
    print("\n| workload | req/s | p50 | p99 | CPU/req (server + postgres) | non-2xx/3xx |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['rps']:,.0f} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | "
              f"{r['server_ms'] + r['pg_ms']:.3f} ms | {r['errors']} |")
    print()
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    a = ap.parse_args()
    for backend in (["sqlite", "postgres"] if a.backend == "both" else [a.backend]):
        run(a.binary, backend, a.orders, a.duration, a.postgres)


if __name__ == "__main__":
    sys.exit(main())
