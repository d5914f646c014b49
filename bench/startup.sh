#!/usr/bin/env bash
# Start-up time of the mlx binaries (the brief's "starts in milliseconds").
# Usage: bash bench/startup.sh        (builds release, runs each command 50 times)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p mlx
BIN="${CARGO_TARGET_DIR:-target}/release/mlx"
python3 - "$BIN" <<'PY'
import resource, statistics, subprocess, sys, time
binary = sys.argv[1]
for args in (["--help"], ["config", "check", "config/examples/time_series.yaml"], ["config", "show", "-c", "config/examples/classification.yaml"]):
    times = []
    for _ in range(50):
        t = time.perf_counter()
        subprocess.run([binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append((time.perf_counter() - t) * 1000)
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"mlx {' '.join(args):<60} median {statistics.median(times):6.2f} ms   p95 {sorted(times)[47]:6.2f} ms   peak RSS {rss:.1f} MiB")
PY
