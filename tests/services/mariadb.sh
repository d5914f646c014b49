# Starts MariaDB on loopback with a `sales` database holding tests/fixtures/ingest/
# sales.csv as table `daily_sales`, and exports MLX_TEST_MYSQL_{PORT,PASSWORD}. Source
# it. Installs Debian's mariadb-server when it is missing (with sudo when not root).
if ! command -v mariadbd > /dev/null; then
  sudo_=""; [[ $EUID -ne 0 ]] && sudo_=sudo
  $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server > /dev/null
fi
my_dir="$(mktemp -d)"
my_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export MLX_TEST_MYSQL_PORT="$my_port"
export MLX_TEST_MYSQL_PASSWORD="my-$RANDOM-$RANDOM"
mariadb-install-db --no-defaults --datadir="$my_dir/data" --user="$(id -un)" --auth-root-authentication-method=normal > /dev/null 2>&1
mariadbd --no-defaults --datadir="$my_dir/data" --socket="$my_dir/sock" --port="$my_port" \
  --bind-address=127.0.0.1 --user="$(id -un)" --pid-file="$my_dir/pid" > "$my_dir/log" 2>&1 &
my_pid=$!
for _ in $(seq 1 100); do
  mariadb-admin --no-defaults --socket="$my_dir/sock" -u root ping > /dev/null 2>&1 && break
  sleep 0.1
done
python3 - "$(pwd)/tests/fixtures/ingest/sales.csv" > "$my_dir/load.sql" <<'PY'
import csv, sys
print("CREATE DATABASE sales; USE sales;")
print("CREATE TABLE daily_sales (day DATE, store_id INT, units BIGINT, price DECIMAL(8,2), promo BOOLEAN, channel VARCHAR(16));")
rows = list(csv.DictReader(open(sys.argv[1])))
values = ",".join(f"('{r['day']}',{r['store_id']},{r['units']},{r['price']},{1 if r['promo'] == 'true' else 0},'{r['channel']}')" for r in rows)
print(f"INSERT INTO daily_sales VALUES {values};")
PY
for host in localhost 127.0.0.1; do
  echo "CREATE USER 'mlx'@'$host' IDENTIFIED BY '$MLX_TEST_MYSQL_PASSWORD'; GRANT ALL ON sales.* TO 'mlx'@'$host';" >> "$my_dir/load.sql"
done
mariadb --no-defaults --socket="$my_dir/sock" -u root < "$my_dir/load.sql"
stop_mariadb() { kill "$my_pid" 2>/dev/null || true; }
echo "MariaDB on 127.0.0.1:$my_port" >&2
