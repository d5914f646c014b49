#!/usr/bin/env bash
# Network training throughput on a CUDA GPU: mlx's `torch` backend against PyTorch on the
# same GPU, data, layers, Adam and batch size (bench/neural/peer.py with DEVICE=cuda),
# both on libtorch 2.11 (scripts/torch.sh). Needs a GPU machine:
#
#   bash bench/neural/gpu.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/torch.sh cargo build --release -q -p mlx-core --features torch --example neural_bench
case "${CARGO_TARGET_DIR:-target}" in
  /*) target="$CARGO_TARGET_DIR" ;;
  *) target="$PWD/${CARGO_TARGET_DIR:-target}" ;;
esac
work="${XDG_CACHE_HOME:-$HOME/.cache}/mlx/bench-neural"
mkdir -p "$work"
DEVICE=cuda bash scripts/torch.sh bash -c '
  python3 -c "import numpy" 2> /dev/null || python3 -m pip install -q numpy==2.1.3
  exec python3 bench/neural/peer.py "$@"' peer "$work" "$target/release/examples/neural_bench" "${THREADS:-2}"
