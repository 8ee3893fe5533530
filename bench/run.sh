#!/usr/bin/env bash
# Build the release binary and measure it on this machine. Prints Markdown tables to paste
# into bench/RESULTS.md. Needs wrk (installed here if missing), python3, sqlite3 and psql,
# and for the Postgres half a server at $BENCH_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/postgres).
#
#   bench/run.sh           everything: foundation, data (W1-W5, export), lists (L1-L5), webhooks, import, live
#   bench/run.sh --quick   the regression check: L1-L5 on both backends, short runs (< 3 min
#                          once the dataset is cached in bench/out/ and Postgres)
# The release build goes to $CARGO_TARGET_DIR (default target-release/, apart from the
# debug builds of the tests).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target-release}"
cargo build --release
bin="$CARGO_TARGET_DIR/release/gatehouse"
pg="${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
if [[ "${1:-}" == "--quick" ]]; then
  shift
  python3 bench/lists.py "$bin" --quick --postgres "$pg" "$@"
  exit
fi
python3 bench/foundation.py "$bin"
python3 bench/data.py "$bin" --postgres "$pg" "$@"
python3 bench/lists.py "$bin" --postgres "$pg"
python3 bench/webhooks.py "$bin"
python3 bench/import.py "$bin" --postgres "$pg"
python3 bench/live.py "$bin"
python3 bench/live.py "$bin" --postgres "$pg"
