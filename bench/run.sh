#!/usr/bin/env bash
# Build the release binary and measure it on this machine. Prints Markdown tables to paste
# into bench/RESULTS.md. Needs wrk (installed here if missing), python3, and for the
# Postgres half a server at $BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release
bin="$(pwd)/target/release/gatehouse"
python3 bench/foundation.py "$bin"
python3 bench/data.py "$bin" --postgres "${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}" "$@"
python3 bench/webhooks.py "$bin"
