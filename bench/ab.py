#!/usr/bin/env python3
"""Two release builds compared on one workload of issue 16's shop, interleaved on the same
machine (a shared or noisy machine makes figures from separate runs incomparable): both
servers start on their own copy of the dataset, then the workload runs 5 s on each in turn,
the order reversed every round.

Usage: bench/ab.py BASE_BINARY NEW_BINARY (PATH | L5) [ROUNDS] [sqlite | postgres]
  PATH is a URL path (e.g. "/data/customers?q=smith&sort=-created_at&per_page=50");
  L5 posts 15,000 record forms with fresh versions per run, as bench/lists.py's L5.
"""
import os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lists  # noqa: E402
from data import free_port, sign_in, wait_healthy  # noqa: E402

PG = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
SEEDED = lists.random.Random


def start(name, binary, backend):
    work = tempfile.mkdtemp(prefix=f"gh-ab-{name}-")
    lists.BENCH_DB = f"gh_ab_{name}"
    url = lists.dataset(backend, 1_000_000, PG, work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    port = free_port()
    env.update(GATEHOUSE_LOG="warn", GATEHOUSE_DATA_DIR=os.path.join(work, "data"), GATEHOUSE_DATABASE_URL=url,
               GATEHOUSE_LISTEN=f"127.0.0.1:{port}", GATEHOUSE_API_RATE_LIMIT="1000000000")
    subprocess.run([binary, "user", "create", "--email", "bench@example.com", "--name", "Bench", "--admin",
                    "--password-stdin"], input=lists.PASSWORD + "\n", text=True, env=env, check=True, capture_output=True)
    p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(port)
    session, csrf = sign_in(port)
    return dict(p=p, port=port, session=session, csrf=csrf, url=url, work=work)


def main():
    base, new, path = sys.argv[1:4]
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    backend = sys.argv[5] if len(sys.argv) > 5 else "sqlite"
    servers = {"base": start("base", base, backend), "new": start("new", new, backend)}
    try:
        for r in range(rounds):
            for name in ("base", "new") if r % 2 == 0 else ("new", "base"):
                s = servers[name]
                meter = lists.Meter(s["p"].pid, s["url"] if backend == "postgres" else None)
                if path == "L5":
                    # Other rows every round: a version is good once.
                    lists.random.Random = lambda seed, r=r: SEEDED(seed + r)
                    script, _ = lists.prepare_updates(s["port"], s["session"], s["csrf"], 15000, 1_000_000, s["work"])
                    res = lists.wrk(s["port"], "/", 5, 0, s["session"], meter, script)
                else:
                    res = lists.wrk(s["port"], path, 5, 1, s["session"], meter)
                print(f"{name:4} round {r}: {res['rps']:8,.0f} req/s  p99 {res['p99']:6.2f} ms  "
                      f"server {res['server_ms']:.3f} ms  postgres {res['pg_ms']:.3f} ms", flush=True)
    finally:
        for s in servers.values():
            s["p"].terminate()
        if backend == "postgres":
            for name in servers:
                subprocess.run(["psql", PG, "-qc", f"DROP DATABASE IF EXISTS gh_ab_{name} WITH (FORCE)"])


if __name__ == "__main__":
    sys.exit(main())
