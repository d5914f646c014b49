# Starts Redis on loopback on a free port, without persistence, and exports
# MLX_TEST_REDIS=redis://127.0.0.1:<port>/0. Source it. Installs Debian's redis-server
# when it is missing (with sudo when not root).
if ! command -v redis-server > /dev/null; then
  sudo_=""; [[ $EUID -ne 0 ]] && sudo_=sudo
  $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server > /dev/null
fi
redis_dir="$(mktemp -d)"
redis_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
redis-server --bind 127.0.0.1 --port "$redis_port" --save '' --appendonly no \
  --dir "$redis_dir" --daemonize yes --pidfile "$redis_dir/pid" --logfile "$redis_dir/log"
for _ in $(seq 50); do
  redis-cli -p "$redis_port" ping > /dev/null 2>&1 && break
  sleep 0.1
done
export MLX_TEST_REDIS="redis://127.0.0.1:$redis_port/0"
stop_redis() { redis-cli -p "$redis_port" shutdown nosave > /dev/null 2>&1 || true; rm -rf "$redis_dir"; }
echo "Redis on 127.0.0.1:$redis_port" >&2
