#!/usr/bin/env python3
"""Data benchmark: `gatehouse demo --orders N` (1,000,000 by default) on SQLite and/or
Postgres, then `wrk -t2 -c32` for 15 s (after a 3 s warm-up) while signed in:

  W1 orders list, newest first, 50 rows with customer names and the row count
  W2 customers searched for "smith", newest first, with the count
  W3 orders filtered status=paid, newest first, page 200
  W4 one order's record page
  W5 updates to single orders through the form (CSRF and row version included), audited
  CSV export of every order: rows/s and the server's peak RSS
  with --rule: W1 as an operator of a custom read-only role, without and with a row rule on
  orders (status__in=$me.statuses), with the server's CPU time per request

Usage: bench/data.py PATH/TO/gatehouse [--orders N] [--duration S] [--backend sqlite|postgres|both]
          [--postgres postgres://postgres@127.0.0.1:5432/postgres] [--rule]
"""
import argparse, concurrent.futures, http.client, os, platform, random, re, shutil, socket, subprocess
import sys, tempfile, threading, time, urllib.parse

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
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse(); data = r.read(); c.close()
    return r, data


def wait_healthy(port):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/healthz")[0].status == 200:
                return
        except OSError:
            time.sleep(0.01)
    raise SystemExit("server did not start")


def cookies(resp):
    out = {}
    for k, v in resp.getheaders():
        if k.lower() == "set-cookie":
            name, _, rest = v.partition("=")
            out[name] = rest.split(";")[0]
    return out


def sign_in(port, email="bench@example.com"):
    r, body = request(port, "GET", "/login")
    jar = cookies(r)
    token = re.search(rb'name="csrf-token" content="([^"]+)"', body).group(1).decode()
    form = urllib.parse.urlencode({"csrf_token": token, "email": email, "password": PASSWORD})
    r, _ = request(port, "POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded",
                                                   "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())})
    assert r.status == 303, f"sign-in failed: {r.status}"
    session = cookies(r)["gh_session"]
    _, home = request(port, "GET", "/", headers={"Cookie": f"gh_session={session}"})
    csrf = re.search(rb'name="csrf-token" content="([^"]+)"', home).group(1).decode()
    return session, csrf


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, u = float(m.group(1)), m.group(2)
        return v / 1000 if u == "us" else v * 1000 if u == "s" else v
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return rps, pct(50), pct(99), int(errors.group(1)) if errors else 0, sock.group(1) if sock else ""


def requests_in(out):
    m = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", out)
    n, t, unit = int(m.group(1)), float(m.group(2)), m.group(3)
    return n, t / 1000 if unit == "ms" else t * 60 if unit == "m" else t


def wrk_updates(port, session, script, duration):
    """W5: each prepared update is good once, so run shorter than the supply lasts and
    count only the successful (303) updates."""
    base = ["wrk", "-t2", "-c32", "--latency", "-H", f"Cookie: gh_session={session}", "-s", script]
    out = subprocess.run(base + [f"-d{duration}s", f"http://127.0.0.1:{port}/"], capture_output=True, text=True).stdout
    rps, p50, p99, errors, sock = parse_wrk(out)
    n, secs = requests_in(out)
    return (n - errors) / secs, p50, p99, errors, sock


def api_token(port, session, csrf):
    """An admin API token, made through the tokens page."""
    form = urllib.parse.urlencode({"csrf_token": csrf, "name": "bench", "role": "admin", "expires_days": "30"})
    _, body = request(port, "POST", "/integrations/tokens", form,
                      {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"gh_session={session}"})
    return re.search(rb'id="new-token">([^<]+)<', body).group(1).decode()


def wrk_api(port, path, duration, token):
    base = ["wrk", "-t2", "-c32", "--latency", "-H", f"Authorization: Bearer {token}"]
    url = f"http://127.0.0.1:{port}{path}"
    subprocess.run(base + ["-d3s", url], capture_output=True)
    out = subprocess.run(base + [f"-d{duration}s", url], capture_output=True, text=True).stdout
    return parse_wrk(out)


def wrk(port, path, duration, session, script=None):
    base = ["wrk", "-t2", "-c32", "--latency", "-H", f"Cookie: gh_session={session}"]
    if script:
        base += ["-s", script]
    url = f"http://127.0.0.1:{port}{path}"
    if not script:
        subprocess.run(base + ["-d3s", url], capture_output=True)
    out = subprocess.run(base + [f"-d{duration}s", url], capture_output=True, text=True).stdout
    return parse_wrk(out)


def cpu_seconds(pid):
    """The server's user + system CPU time so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def db_sql(env, backend, sql):
    """Run SQL on the benchmark's database (its own tables: a role, a rule, an attribute)."""
    if backend == "postgres":
        subprocess.run(["psql", env["GATEHOUSE_DATABASE_URL"], "-qc", sql], check=True)
    else:
        db = os.path.join(env["GATEHOUSE_DATA_DIR"], "gatehouse.db")
        subprocess.run(["sqlite3", db, sql], check=True)


RULE = '{"all":["status__in=$me.statuses"],"any":[]}'


def rule_comparison(binary, env, backend, port, pid, duration):
    """W1 as an operator of a custom read-only role, without and then with a row rule on
    orders (status__in=$me.statuses, the operator's attribute naming three of the four
    statuses): req/s and the server's CPU time per request, which a noisy machine skews
    less than throughput."""
    subprocess.run([binary, "user", "create", "--email", "rule@example.com", "--name", "Rule",
                    "--password-stdin"], input=PASSWORD + "\n", text=True, env=env, check=True, capture_output=True)
    db_sql(env, backend, "INSERT INTO gh_roles (name, description, builtin, default_actions, admin_areas, "
           "require_2fa, created_at) VALUES ('regional', 'bench', FALSE, 'r', FALSE, FALSE, CURRENT_TIMESTAMP); "
           "UPDATE gh_users SET role = 'regional' WHERE email = 'rule@example.com'; "
           "INSERT INTO gh_user_attributes (user_id, key, value) SELECT id, 'statuses', 'new,paid,shipped' "
           "FROM gh_users WHERE email = 'rule@example.com'")
    session, _ = sign_in(port, "rule@example.com")
    out = []
    plain = f"http://127.0.0.1:{port}/data/orders?sort=-created_at"
    # The third case selects the same rows as the rule, by a filter in the URL: the rule's
    # cost apart from what it selects (rows skipped while walking the index, exact counts).
    for label, url in (("W1 orders as a custom role, no row rule", plain),
                       ("W1 orders as a custom role, no rule, URL filter status__in=new,paid,shipped",
                        plain + "&status__in=new,paid,shipped"),
                       ("W1 orders as a custom role, row rule status__in=$me.statuses", plain)):
        if "rule status" in label:
            db_sql(env, backend, "INSERT INTO gh_role_rules (role, table_name, action, rule, allow_move_out) "
                   f"VALUES ('regional', 'orders', 'read', '{RULE}', FALSE)")
            time.sleep(3)  # the rights cache holds a role for two seconds
        base = ["wrk", "-t2", "-c32", "--latency", "-H", f"Cookie: gh_session={session}"]
        subprocess.run(base + ["-d3s", url], capture_output=True)
        c0 = cpu_seconds(pid)
        text = subprocess.run(base + [f"-d{duration}s", url], capture_output=True, text=True).stdout
        cpu = cpu_seconds(pid) - c0
        n, _ = requests_in(text)
        out.append((label, parse_wrk(text), cpu * 1000 / max(n, 1)))
    return out


def prepare_updates(port, session, csrf, n, max_id, work):
    """Fetch `n` random orders' record pages for their row version, and write a wrk script
    that posts one update to each (a version is good for exactly one update)."""
    ids = random.Random(7).sample(range(1, max_id + 1), n)
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
            body = urllib.parse.urlencode({"csrf_token": csrf, "_version": v, "f.notes": f"bench update {i}"})
            f.write(f'{{"/data/orders/{i}", "{body}"}},\n')
        f.write("}\n")
        f.write("""
local counter = 0
local threads = {}
function setup(thread) thread:set("offset", #threads) table.insert(threads, thread) end
function init(args) counter = offset end
function request()
  local item = items[(counter % #items) + 1]
  counter = counter + 2
  return wrk.format("POST", item[1], {["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = "gh_session=SESSION"}, item[2])
end
""".replace("SESSION", session))
    return path, len(pairs)


def export(port, session, pid):
    peak = [rss_kib(pid)]
    done = threading.Event()
    def watch():
        while not done.is_set():
            peak[0] = max(peak[0], rss_kib(pid)); time.sleep(0.05)
    t = threading.Thread(target=watch); t.start()
    start = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("GET", "/data/orders/export.csv", headers={"Cookie": f"gh_session={session}"})
    r = c.getresponse()
    lines = 0
    while True:
        chunk = r.read(1 << 20)
        if not chunk:
            break
        lines += chunk.count(b"\n")
    elapsed = time.monotonic() - start
    done.set(); t.join(); c.close()
    return lines - 1, elapsed, peak[0]


def run(binary, backend, orders, duration, pg_admin, rule=False):
    work = tempfile.mkdtemp(prefix="gh-bench-data-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    # The per-token API limit would turn a load test into a test of the limiter.
    env.update(GATEHOUSE_LOG="warn", GATEHOUSE_DATA_DIR=os.path.join(work, "data"), GATEHOUSE_API_RATE_LIMIT="1000000000")
    if backend == "postgres":
        subprocess.run(["psql", pg_admin, "-qc", "DROP DATABASE IF EXISTS gh_bench_data WITH (FORCE)"], check=True)
        subprocess.run(["psql", pg_admin, "-qc", "CREATE DATABASE gh_bench_data"], check=True)
        env["GATEHOUSE_DATABASE_URL"] = pg_admin.rsplit("/", 1)[0] + "/gh_bench_data"
    port = free_port()
    env["GATEHOUSE_LISTEN"] = f"127.0.0.1:{port}"
    t0 = time.monotonic()
    subprocess.run([binary, "demo", "--orders", str(orders)], env=env, check=True, capture_output=True)
    load_s = time.monotonic() - t0
    subprocess.run([binary, "user", "create", "--email", "bench@example.com", "--name", "Bench", "--admin",
                    "--password-stdin"], input=PASSWORD + "\n", text=True, env=env, check=True, capture_output=True)
    p = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port)
        session, csrf = sign_in(port)
        results = [("ceiling: /healthz", wrk(port, "/healthz", duration, session))]
        results.append(("W1 orders, newest first", wrk(port, "/data/orders?sort=-created_at", duration, session)))
        results.append(("W2 customers q=smith, newest first", wrk(port, "/data/customers?q=smith&sort=-created_at", duration, session)))
        results.append(("W3 orders status=paid, page 200", wrk(port, "/data/orders?status__eq=paid&sort=-created_at&page=200", duration, session)))
        results.append(("W4 one order's record page", wrk(port, f"/data/orders/{orders // 2}", duration, session)))
        token = api_token(port, session, csrf)
        results.append(("API W1 /api/v1 orders, newest first", wrk_api(port, "/api/v1/tables/orders/rows?sort=-created_at", duration, token)))
        results.append(("API W2 /api/v1 customers q=smith", wrk_api(port, "/api/v1/tables/customers/rows?q=smith&sort=-created_at", duration, token)))
        script, n = prepare_updates(port, session, csrf, min(60000, orders), orders, work)
        results.append((f"W5 successful updates/s through the form (5 s, {n} distinct rows)", wrk_updates(port, session, script, 5)))
        rss_after_load = rss_kib(p.pid)
        rows, secs, peak = export(port, session, p.pid)
        ruled = rule_comparison(binary, env, backend, port, p.pid, duration) if rule else []
    finally:
        p.terminate(); p.wait()
        if backend == "postgres":
            subprocess.run(["psql", pg_admin, "-qc", "DROP DATABASE IF EXISTS gh_bench_data WITH (FORCE)"])
        shutil.rmtree(work, ignore_errors=True)
    print(f"### {time.strftime('%Y-%m-%d')} · {backend} · {orders:,} orders · {platform.node()} · {os.cpu_count()} cores\n")
    print(f"Demo load: {load_s:.1f} s. Server RSS after the wrk runs: {rss_after_load / 1024:.1f} MiB.\n")
    print(f"| workload (wrk -t2 -c32 -d{duration}s) | req/s | p50 | p99 | non-2xx/3xx | socket errors |")
    print("|---|---|---|---|---|---|")
    for name, (rps, p50, p99, err, sock) in results:
        print(f"| {name} | {rps:,.0f} | {p50:.2f} ms | {p99:.2f} ms | {err} | {sock or '0'} |")
    for name, (rps, p50, p99, err, sock), cpu_ms in ruled:
        print(f"| {name} | {rps:,.0f} | {p50:.2f} ms | {p99:.2f} ms | {err} | {sock or '0'} | CPU {cpu_ms:.3f} ms/request |")
    print(f"\nCSV export of all orders: {rows:,} rows in {secs:.1f} s = {rows / secs:,.0f} rows/s; "
          f"server peak RSS during export {peak / 1024:.1f} MiB.\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--orders", type=int, default=1_000_000)
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    ap.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--rule", action="store_true",
                    help="also W1 as a custom role without and with a row rule on orders (CPU per request)")
    a = ap.parse_args()
    for backend in (["sqlite", "postgres"] if a.backend == "both" else [a.backend]):
        run(a.binary, backend, a.orders, a.duration, a.postgres, a.rule)


if __name__ == "__main__":
    sys.exit(main())
