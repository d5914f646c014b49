#!/usr/bin/env bash
# Runs a command with what the `torch` feature builds and runs with: PyTorch 2.11 (the
# libtorch `tch` 0.24 binds), LIBTORCH_USE_PYTORCH=1 and libtorch on the library path.
#   bash scripts/torch.sh cargo build --release --features mlx/torch
#   bash scripts/torch.sh cargo test -p mlx-core --features torch --test torch
# Uses the python3 on PATH when its torch is 2.11 (a GPU machine's own CUDA build, say);
# otherwise installs torch==2.11.0 from PyPI into a virtual environment in the cache
# directory. PyPI's Linux wheel brings its CUDA libraries: about 4.6 GB.
set -euo pipefail
want=2.11
has() { "$1" -c "import torch, sys; sys.exit(not torch.__version__.startswith('$want'))" 2> /dev/null; }
if ! has python3; then
  venv="${XDG_CACHE_HOME:-$HOME/.cache}/mlx/libtorch-venv"
  if ! has "$venv/bin/python3"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "torch==$want.0" >&2
  fi
  export PATH="$venv/bin:$PATH"
fi
lib="$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2> /dev/null)"
export LIBTORCH_USE_PYTORCH=1
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec "$@"
