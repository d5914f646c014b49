#!/usr/bin/env bash
# Re-records the oracle fixtures under tests/fixtures/ from the reference Python
# implementations, installed into a virtual environment in a cache directory.
#   bash tests/oracles/record.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${MLX_ORACLE_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mlx/oracle-venv}"
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q -r tests/oracles/requirements.txt
for script in tests/oracles/*.py; do
  echo "== $script"
  "$venv/bin/python" "$script"
done
