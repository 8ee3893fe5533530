#!/usr/bin/env python3
"""Foundation benchmark: cold start, idle RSS, RSS after 50 sign-ins, and req/s with
p50/p99 for /healthz and the signed-in home page under `wrk -t2 -c32`.

Usage: bench/foundation.py PATH/TO/gatehouse [--duration 15]
Backend: SQLite by default; --postgres URL to run against Postgres (a fresh database
named gh_bench is created and dropped through that server).
"""
import argparse, http.client, os, platform, re, shutil, socket, subprocess, sys, tempfile, time, urllib.parse

PASSWORD = "bench password that is long enough"


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse(); data = r.read(); c.close()
    return r, data


def wait_healthy(port, deadline):
    while time.monotonic() < deadline:
        try:
            r, _ = request(port, "GET", "/healthz")
            if r.status == 200:
                return True
        except OSError:
            time.sleep(0.001)
    return False


def cookies(resp):
    out = {}
    for k, v in resp.getheaders():
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            out[name] = rest.split(";")[0]
    return out


def sign_in(port):
    r, body = request(port, "GET", "/login")
    jar = cookies(r)
    token = re.search(rb'name="csrf-token" content="([^"]+)"', body).group(1).decode()
    form = urllib.parse.urlencode({"csrf_token": token, "email": "bench@example.com", "password": PASSWORD})
    hdr = {"Content-Type": "application/x-www-form-urlencoded",
           "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
    r, _ = request(port, "POST", "/login", form, hdr)
    assert r.status == 303, f"sign-in failed: {r.status}"
    return cookies(r)["gh_session"]


def cpu_ticks(pid):
    """utime + stime of the server so far, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wrk(port, path, duration, cookie=None, pid=None):
    cmd = ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency"]
    if cookie:
        cmd += ["-H", f"Cookie: gh_session={cookie}"]
    subprocess.run(cmd[:3] + ["-d3s", f"http://127.0.0.1:{port}{path}"] + cmd[5:], capture_output=True)  # warm-up
    before = cpu_ticks(pid) if pid else 0
    out = subprocess.run(cmd + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True).stdout
    ticks = (cpu_ticks(pid) - before) if pid else 0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    # The server's CPU time per request (user + system), in microseconds: unlike req/s it
    # hardly depends on what else the machine is doing.
    cpu_us = ticks / os.sysconf("SC_CLK_TCK") * 1e6 / total if pid and total else 0
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, pct(50), pct(99), int(errors.group(1)) if errors else 0, cpu_us


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--postgres", help="admin URL of a Postgres server, e.g. postgres://postgres@127.0.0.1:5432/postgres")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gh-bench-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(GATEHOUSE_LOG="warn", GATEHOUSE_DATA_DIR=os.path.join(work, "data"))
    if a.postgres:
        base = a.postgres.rsplit("/", 1)[0]
        subprocess.run(["psql", a.postgres, "-qc", "DROP DATABASE IF EXISTS gh_bench WITH (FORCE)"], check=True)
        subprocess.run(["psql", a.postgres, "-qc", "CREATE DATABASE gh_bench"], check=True)
        env["GATEHOUSE_DATABASE_URL"] = f"{base}/gh_bench"
    port = free_port()
    env["GATEHOUSE_LISTEN"] = f"127.0.0.1:{port}"

    # Cold start on an empty data directory (creates the database, migrates, makes the key).
    t0 = time.monotonic()
    p = subprocess.Popen([a.binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_healthy(port, t0 + 30), "server did not start"
    cold_first = (time.monotonic() - t0) * 1000
    p.terminate(); p.wait()

    subprocess.run([a.binary, "user", "create", "--email", "bench@example.com", "--name", "Bench",
                    "--admin", "--password-stdin"], input=PASSWORD + "\n", text=True, env=env,
                   check=True, capture_output=True)

    starts = []
    for _ in range(5):
        t0 = time.monotonic()
        p = subprocess.Popen([a.binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert wait_healthy(port, t0 + 30)
        starts.append((time.monotonic() - t0) * 1000)
        p.terminate(); p.wait()
    starts.sort()

    p = subprocess.Popen([a.binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_healthy(port, time.monotonic() + 30)
    time.sleep(1)
    idle = rss_kib(p.pid)
    session = None
    for _ in range(50):
        session = sign_in(port)
    time.sleep(0.5)
    after_logins = rss_kib(p.pid)
    health = wrk(port, "/healthz", a.duration, pid=p.pid)
    home = wrk(port, "/", a.duration, session, pid=p.pid)
    login_page = wrk(port, "/login", a.duration, pid=p.pid)
    after_load = rss_kib(p.pid)
    p.terminate(); p.wait()
    if a.postgres:
        subprocess.run(["psql", a.postgres, "-qc", "DROP DATABASE IF EXISTS gh_bench WITH (FORCE)"])
    shutil.rmtree(work, ignore_errors=True)

    backend = "Postgres" if a.postgres else "SQLite"
    print(f"### {time.strftime('%Y-%m-%d')} · {backend} · {platform.node()} · {os.cpu_count()} cores\n")
    print("| measure | value |\n|---|---|")
    print(f"| cold start, empty data dir (migrate + key) | {cold_first:.0f} ms |")
    print(f"| start to first 200 on /healthz, existing db (median of 5) | {starts[2]:.0f} ms |")
    print(f"| idle RSS | {idle / 1024:.1f} MiB |")
    print(f"| RSS after 50 sign-ins | {after_logins / 1024:.1f} MiB |")
    print(f"| RSS after the load runs | {after_load / 1024:.1f} MiB |")
    print(f"| load average (1 min) at the end | {os.getloadavg()[0]:.2f} |")
    print(f"\n| wrk -t2 -c32 -d{a.duration}s | req/s | p50 | p99 | non-2xx/3xx | server CPU/req |\n|---|---|---|---|---|---|")
    for name, (rps, p50, p99, err, cpu) in [("/healthz", health), ("/ signed in", home), ("/login (anonymous page)", login_page)]:
        print(f"| {name} | {rps:,.0f} | {p50:.2f} ms | {p99:.2f} ms | {err} | {cpu:.1f} µs |")


if __name__ == "__main__":
    sys.exit(main())
