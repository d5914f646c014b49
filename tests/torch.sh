#!/usr/bin/env bash
# The `torch` backend's own test step (not in .ci/run: PyTorch's Linux wheel is 4.6 GB).
# Builds mlx-core with the `torch` feature against PyTorch 2.11 (scripts/torch.sh) and
# checks it against the candle backend on the CPU, or on a GPU with
#   MLX_TORCH_DEVICE=cuda bash tests/torch.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/torch.sh cargo test -p mlx-core --features torch --test torch
