# The real clients of mlx's protocols, from PyPI, installed into a virtual environment
# in the cache directory, made anew when tests/clients/requirements.txt changes:
# Triton's tritonclient[http] (the Open Inference Protocol) and mlflow (its
# scoring-server client and payload helpers) for bins/mlx-serve/tests/serve.rs; and
# mlflow's server and client, with xgboost and lightgbm for the models mlx exports, for
# bins/mlx/tests/mlflow.rs. Source it.
#
# Exports: MLX_TEST_CLIENTS_PYTHON (the environment's python).
clients_requirements="$(dirname "${BASH_SOURCE[0]}")/../clients/requirements.txt"
clients_venv="${MLX_CLIENTS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mlx/clients-venv}"
if ! cmp -s "$clients_requirements" "$clients_venv/requirements.txt" 2> /dev/null; then
  rm -rf "$clients_venv"
  python3 -m venv "$clients_venv"
  "$clients_venv/bin/pip" install -q -r "$clients_requirements"
  cp "$clients_requirements" "$clients_venv/requirements.txt"
fi
export MLX_TEST_CLIENTS_PYTHON="$clients_venv/bin/python"
echo "inference clients: $("$MLX_TEST_CLIENTS_PYTHON" -c 'import importlib.metadata as m; print("tritonclient", m.version("tritonclient"), "mlflow", m.version("mlflow"))')" >&2
