#!/usr/bin/env bash
# Network training throughput against PyTorch (CPU) on the same data in one run: an MLP
# and an LSTM with the same layers, Adam, batch size and threads. Prints seconds,
# samples per second, the ratio, peak RSS and the accuracy each reached.
#
#   bash bench/neural/run.sh
#   THREADS=1 bash bench/neural/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
MLX_BENCH_NO_BUILD=1 bench_setup bench-neural-venv bench/neural/requirements.txt
cargo build --release -q -p mlx-core --example neural_bench
work="$cache/bench-neural"
mkdir -p "$work"
"$venv/bin/python" bench/neural/peer.py "$work" "$target/release/examples/neural_bench" "${THREADS:-2}"
