# Starts an S3-compatible server (moto) on loopback for the tests and exports where it
# is. Source it: `source tests/services/s3.sh`; it stops the server when the shell exits.
# The server is installed into a virtual environment in a cache directory.
venv="${MLX_SERVICES_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mlx/services-venv}"
if [[ ! -x "$venv/bin/moto_server" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$(dirname "${BASH_SOURCE[0]}")/requirements.txt"
fi
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$venv/bin/python" "$(dirname "${BASH_SOURCE[0]}")/moto_server.py" 127.0.0.1 "$port" \
  > "${TMPDIR:-/tmp}/mlx-moto-$port.log" 2>&1 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/')" 2>/dev/null; then
    break
  fi
  sleep 0.1
done
# CreateBucket is a PUT on the bucket; moto accepts any credentials.
python3 -c "import urllib.request; urllib.request.urlopen(urllib.request.Request('http://127.0.0.1:$port/mlx-test', method='PUT'))"
export MLX_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
export MLX_TEST_S3_BUCKET="mlx-test"
# moto serves Kinesis on the same port; its venv has boto3 to put records with.
export MLX_TEST_SERVICES_PYTHON="$venv/bin/python"
echo "S3 (moto) on $MLX_TEST_S3_ENDPOINT, bucket $MLX_TEST_S3_BUCKET" >&2
