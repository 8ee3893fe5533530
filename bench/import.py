#!/usr/bin/env python3
"""Import benchmark (issue 10): 1,000,000 order rows from a CSV file into the demo shop's
`orders` table (empty), on SQLite and/or Postgres, two ways:

  CLI  `gatehouse import --table orders --file orders.csv`: rows/s, the process's peak RSS
  API  `POST /api/v1/tables/orders/import` (text/csv, streamed from the file) to a running
       server: rows/s, and the server's RSS sampled every 50 ms during the import (peak)

Targets: >= 100,000 rows/s on SQLite, >= 50,000 rows/s on Postgres, server RSS < 64 MiB.

Usage: bench/import.py PATH/TO/gatehouse [--rows N] [--backend sqlite|postgres|both]
          [--postgres postgres://postgres@127.0.0.1:5432/postgres]
"""
import argparse, http.client, os, platform, resource, shutil, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import PASSWORD, api_token, free_port, rss_kib, sign_in, wait_healthy  # noqa: E402


def write_csv(path, rows, customers):
    with open(path, "w") as f:
        f.write("customer_id,status,total,notes,created_at\n")
        statuses = ["new", "paid", "shipped", "cancelled"]
        for i in range(rows):
            f.write(f"{1 + i * 7919 % customers},{statuses[i % 4]},{i % 10000}.{i % 100:02d},"
                    f"imported order {i},2024-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00\n")


def fresh(binary, backend, env, pg_admin, name):
    if backend == "postgres":
        subprocess.run(["psql", pg_admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True)
        subprocess.run(["psql", pg_admin, "-qc", f"CREATE DATABASE {name}"], check=True)
        env["GATEHOUSE_DATABASE_URL"] = pg_admin.rsplit("/", 1)[0] + "/" + name
    subprocess.run([binary, "demo", "--orders", "1000"], env=env, check=True, capture_output=True)
    # The demo's orders go; its customers stay for the foreign key.
    sql = "DELETE FROM order_items; DELETE FROM orders;"
    if backend == "postgres":
        subprocess.run(["psql", env["GATEHOUSE_DATABASE_URL"], "-qc", sql], check=True)
    else:
        subprocess.run(["sqlite3", os.path.join(env["GATEHOUSE_DATA_DIR"], "gatehouse.db"), sql], check=True)


def cli(binary, env, csv):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.monotonic()
    out = subprocess.run([binary, "import", "--table", "orders", "--file", csv], env=env, capture_output=True, text=True)
    secs = time.monotonic() - t0
    if out.returncode != 0:
        raise SystemExit(f"import failed: {out.stderr}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return secs, peak if peak > before else None, out.stdout.strip()


def api(binary, env, csv):
    port = free_port()
    env = dict(env, GATEHOUSE_LISTEN=f"127.0.0.1:{port}")
    subprocess.run([binary, "user", "create", "--email", "bench@example.com", "--name", "Bench", "--admin",
                    "--password-stdin"], input=PASSWORD + "\n", text=True, env=env, check=True, capture_output=True)
    p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port)
        session, csrf = sign_in(port)
        token = api_token(port, session, csrf)
        idle = rss_kib(p.pid)
        peak, done = [idle], threading.Event()

        def sample():
            while not done.is_set():
                peak.append(rss_kib(p.pid)); time.sleep(0.05)
        t = threading.Thread(target=sample); t.start()
        size = os.path.getsize(csv)
        t0 = time.monotonic()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
        with open(csv, "rb") as f:
            c.request("POST", "/api/v1/tables/orders/import", body=f,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv", "Content-Length": str(size)})
            r = c.getresponse(); body = r.read()
        secs = time.monotonic() - t0
        done.set(); t.join()
        if r.status != 200:
            raise SystemExit(f"API import failed: {r.status} {body[:500]!r}")
        return secs, idle, max(peak)
    finally:
        p.terminate(); p.wait()


def run(binary, backend, rows, pg_admin):
    work = tempfile.mkdtemp(prefix="gh-bench-import-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(GATEHOUSE_LOG="warn", GATEHOUSE_API_RATE_LIMIT="1000000000",
               GATEHOUSE_IMPORT_MAX_BYTES=str(1 << 30))
    csv = os.path.join(work, "orders.csv")
    write_csv(csv, rows, 100)
    mib = os.path.getsize(csv) / (1 << 20)
    try:
        env["GATEHOUSE_DATA_DIR"] = os.path.join(work, "cli")
        fresh(binary, backend, env, pg_admin, "gh_bench_import_cli")
        cli_s, cli_rss, line = cli(binary, env, csv)
        env["GATEHOUSE_DATA_DIR"] = os.path.join(work, "api")
        fresh(binary, backend, env, pg_admin, "gh_bench_import_api")
        api_s, idle, peak = api(binary, env, csv)
    finally:
        if backend == "postgres":
            for name in ("gh_bench_import_cli", "gh_bench_import_api"):
                subprocess.run(["psql", pg_admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])
        shutil.rmtree(work, ignore_errors=True)
    print(f"### {time.strftime('%Y-%m-%d')} · {backend} · {rows:,} order rows ({mib:.0f} MiB CSV) · {platform.node()} · {os.cpu_count()} cores\n")
    print("| path | time | rows/s | memory |")
    print("|---|---|---|---|")
    print(f"| CLI `gatehouse import` | {cli_s:.1f} s | {rows / cli_s:,.0f} | process peak RSS {cli_rss / 1024:.1f} MiB |"
          if cli_rss else f"| CLI `gatehouse import` | {cli_s:.1f} s | {rows / cli_s:,.0f} | — |")
    print(f"| API `POST …/orders/import` | {api_s:.1f} s | {rows / api_s:,.0f} | server RSS idle {idle / 1024:.1f} MiB, peak during import {peak / 1024:.1f} MiB |")
    print(f"\nCLI said: `{line}`\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    a = ap.parse_args()
    for backend in (["sqlite", "postgres"] if a.backend == "both" else [a.backend]):
        run(a.binary, backend, a.rows, a.postgres)


if __name__ == "__main__":
    sys.exit(main())
