#!/usr/bin/env bash
# Build the release binary and measure it on this machine; figures go to bench/RESULTS.md
# by hand (the script prints a Markdown block). Needs wrk (apt-get install wrk) and python3.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk; }
cargo build --release
exec python3 bench/foundation.py "$(pwd)/target/release/gatehouse" "$@"
