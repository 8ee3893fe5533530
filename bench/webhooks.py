#!/usr/bin/env python3
"""Webhook delivery throughput: N events queued in the outbox of a fresh SQLite database,
delivered by the release binary's worker to a local receiver; reports deliveries/s.

Usage: bench/webhooks.py PATH/TO/gatehouse [--events 5000]
"""
import argparse, http.server, urllib.parse, os, socket, socketserver, sqlite3, subprocess, sys, tempfile, threading, time, uuid

KEY = "bench-key-" * 8
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data  # noqa: E402  (shared helpers: sign-in, requests)


class Receiver(http.server.BaseHTTPRequestHandler):
    count = 0
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", "0")))
        with Receiver.lock:
            Receiver.count += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *a):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 256


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--events", type=int, default=5000)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="gh-bench-hooks-")
    db = os.path.join(work, "gh.db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEHOUSE_")}
    env.update(GATEHOUSE_LOG="warn", GATEHOUSE_DATA_DIR=work, GATEHOUSE_DATABASE_URL=f"sqlite://{db}",
               GATEHOUSE_SECRET_KEY=KEY, GATEHOUSE_WEBHOOK_ALLOW_PRIVATE="true")
    subprocess.run([a.binary, "migrate"], env=env, check=True, capture_output=True)
    rport = free_port()
    server = Server(("127.0.0.1", rport), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # Create the endpoint through the UI, so its secret is sealed by the server's key.
    subprocess.run([a.binary, "user", "create", "--email", "bench@example.com", "--name", "Bench", "--admin",
                    "--password-stdin"], input=data.PASSWORD + "\n", text=True, env=env, check=True, capture_output=True)
    port = free_port()
    env["GATEHOUSE_LISTEN"] = f"127.0.0.1:{port}"
    p = subprocess.Popen([a.binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data.wait_healthy(port)
    session, csrf = data.sign_in(port)
    form = urllib.parse.urlencode({"csrf_token": csrf, "url": f"http://127.0.0.1:{rport}/hook", "role": "admin", "event": "*:*"})
    r, _ = data.request(port, "POST", "/integrations/webhooks", form,
                        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"gh_session={session}"})
    assert r.status == 200, f"endpoint not created: {r.status}"
    p.terminate(); p.wait()
    con = sqlite3.connect(db)
    now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    ep = con.execute("SELECT id FROM gh_webhook_endpoints").fetchone()[0]
    con.executemany("INSERT INTO gh_outbox (id, endpoint_id, event_type, payload, created_at, next_attempt_at, attempts, status) VALUES (?,?,?,?,?,?,0,'pending')",
                    [(f"msg_{uuid.uuid4().hex}", ep, "webhook.test", '{"type":"webhook.test","data":{}}', now, now) for _ in range(a.events)])
    con.commit(); con.close()
    start = time.monotonic()
    p = subprocess.Popen([a.binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while Receiver.count < a.events and time.monotonic() - start < 300:
            time.sleep(0.05)
        elapsed = time.monotonic() - start
    finally:
        p.terminate(); p.wait(); server.shutdown()
    print(f"### {time.strftime('%Y-%m-%d')} · webhooks · SQLite\n")
    print(f"{Receiver.count:,} of {a.events:,} events delivered in {elapsed:.1f} s (from process start) = "
          f"{Receiver.count / elapsed:,.0f} deliveries/s to a local Python receiver.\n")


if __name__ == "__main__":
    sys.exit(main())
