#!/usr/bin/env python3
"""Live-update benchmark: the server's extra memory with 1,000 idle `/events` streams
(issue 13: under 30 MiB), and how long a change takes to reach all of them.

Usage: bench/live.py PATH/TO/gatehouse [--streams 1000] [--postgres ADMIN_URL]
Backend: SQLite by default; --postgres URL runs against a fresh database gh_bench_live on
that server (created and dropped here).

Steps: start the binary, sign in once, warm up with 50 streams opened and closed (so the
worker's buffers exist before the baseline), read VmRSS, open N streams on raw sockets
(each reads its response head and then idles), wait 3 s, read VmRSS again; then one row
update through the API and the time until every stream has its notice.
"""
import argparse, http.client, json, os, platform, re, resource, selectors, shutil, socket, subprocess, sys, tempfile, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import PASSWORD, cookies, free_port, request, rss_kib, sign_in, wait_healthy  # noqa: E402


def open_stream(port, session):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: gh_session={session}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk, "stream closed"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    s.setblocking(False)
    return s


def api_token(port, session):
    r, body = request(port, "GET", "/integrations/tokens", headers={"Cookie": f"gh_session={session}"})
    csrf = re.search(rb'name="csrf-token" content="([^"]+)"', body).group(1).decode()
    form = urllib.parse.urlencode({"csrf_token": csrf, "name": "bench", "role": "admin", "expires_days": "1"})
    r, body = request(port, "POST", "/integrations/tokens", form,
                      {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"gh_session={session}"})
    return re.search(rb'id="new-token">([^<]+)<', body).group(1).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("--postgres", help="admin URL of a Postgres server")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * a.streams + 256)), hard))
    work = tempfile.mkdtemp(prefix="gh-bench-live-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(GATEHOUSE_LOG="warn", GATEHOUSE_DATA_DIR=os.path.join(work, "data"))
    if a.postgres:
        base = a.postgres.rsplit("/", 1)[0]
        subprocess.run(["psql", a.postgres, "-qc", "DROP DATABASE IF EXISTS gh_bench_live WITH (FORCE)"], check=True)
        subprocess.run(["psql", a.postgres, "-qc", "CREATE DATABASE gh_bench_live"], check=True)
        env["GATEHOUSE_DATABASE_URL"] = f"{base}/gh_bench_live"
        subprocess.run(["psql", f"{base}/gh_bench_live", "-qc",
                        "CREATE TABLE notes (id SERIAL PRIMARY KEY, body TEXT NOT NULL); INSERT INTO notes (body) VALUES ('x')"], check=True)
    else:
        os.makedirs(env["GATEHOUSE_DATA_DIR"])
        db = os.path.join(env["GATEHOUSE_DATA_DIR"], "gatehouse.db")
        subprocess.run(["sqlite3", db, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL); INSERT INTO notes (body) VALUES ('x');"], check=True)
    port = free_port()
    env["GATEHOUSE_LISTEN"] = f"127.0.0.1:{port}"
    subprocess.run([a.binary, "user", "create", "--email", "bench@example.com", "--name", "Bench",
                    "--admin", "--password-stdin"], input=PASSWORD + "\n", text=True, env=env,
                   check=True, capture_output=True)
    p = subprocess.Popen([a.binary, "--sse-max-clients", str(a.streams + 100)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port)
        session, _ = sign_in(port)
        token = api_token(port, session)
        warm = [open_stream(port, session) for _ in range(50)]
        for s in warm:
            s.close()
        time.sleep(2)
        before = rss_kib(p.pid)
        streams = [open_stream(port, session) for _ in range(a.streams)]
        time.sleep(3)
        after = rss_kib(p.pid)

        # One change; time until every stream has it.
        sel = selectors.DefaultSelector()
        for s in streams:
            sel.register(s, selectors.EVENT_READ)
        t0 = time.monotonic()
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("PATCH", "/api/v1/tables/notes/rows/1", body=json.dumps({"body": "changed"}),
                  headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        r = c.getresponse(); r.read(); c.close()
        assert r.status == 200, r.status
        waiting = set(streams)
        while waiting and time.monotonic() - t0 < 30:
            for key, _ in sel.select(timeout=1):
                data = key.fileobj.recv(65536)
                if b"event: change" in data:
                    waiting.discard(key.fileobj)
        fanout = (time.monotonic() - t0) * 1000
        reached = a.streams - len(waiting)
        for s in streams:
            s.close()
    finally:
        p.terminate(); p.wait()
        if a.postgres:
            subprocess.run(["psql", a.postgres, "-qc", "DROP DATABASE IF EXISTS gh_bench_live WITH (FORCE)"])
        shutil.rmtree(work, ignore_errors=True)

    backend = "Postgres" if a.postgres else "SQLite"
    extra = (after - before) / 1024
    print(f"### {time.strftime('%Y-%m-%d')} · live updates · {backend} · {platform.node()} · {os.cpu_count()} cores\n")
    print("| measure | value |\n|---|---|")
    print(f"| RSS before the streams (after a 50-stream warm-up) | {before / 1024:.1f} MiB |")
    print(f"| RSS with {a.streams} idle streams | {after / 1024:.1f} MiB |")
    print(f"| extra memory for {a.streams} idle streams | {extra:.1f} MiB ({after - before} KiB, {(after - before) / a.streams:.1f} KiB per stream) |")
    print(f"| one API update to its notice on all {a.streams} streams | {fanout:.0f} ms ({reached} reached) |")


if __name__ == "__main__":
    main()
