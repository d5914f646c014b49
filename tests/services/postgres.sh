# Starts PostgreSQL on loopback with a `sales` database holding tests/fixtures/ingest/
# sales.csv as table `daily_sales` and the ad-sales example's config/examples/data/
# ad_sales.csv as table `ad_sales`, and exports MLX_TEST_PG_{PORT,PASSWORD}. Source it.
# Installs Debian's postgresql when it is missing (with sudo when not root).
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
if [[ -z "$pg_bin" ]]; then
  sudo_=""; [[ $EUID -ne 0 ]] && sudo_=sudo
  $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql > /dev/null
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi
pg_dir="$(mktemp -d)"
pg_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export MLX_TEST_PG_PORT="$pg_port"
export MLX_TEST_PG_PASSWORD="pg-$RANDOM-$RANDOM"
as_pg() { if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $EUID -eq 0 ]] && chown postgres "$pg_dir"
printf '%s\n' "$MLX_TEST_PG_PASSWORD" > "$pg_dir/pw" && chmod 644 "$pg_dir/pw"
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -U postgres --auth=scram-sha-256 --pwfile="$pg_dir/pw" > /dev/null
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w -o "-p $pg_port -h 127.0.0.1 -k $pg_dir" start > /dev/null
export PGPASSWORD="$MLX_TEST_PG_PASSWORD"
psql -q -h 127.0.0.1 -p "$pg_port" -U postgres -v ON_ERROR_STOP=1 <<SQL > /dev/null
CREATE DATABASE sales;
\c sales
CREATE TABLE daily_sales (day date, store_id integer, units bigint, price numeric(8,2), promo boolean, channel text);
\copy daily_sales FROM '$(pwd)/tests/fixtures/ingest/sales.csv' CSV HEADER
CREATE TABLE ad_sales (date date, sales double precision, price double precision, ad_spend double precision, competitor_price double precision, promotion integer, is_holiday integer);
\copy ad_sales FROM '$(pwd)/config/examples/data/ad_sales.csv' CSV HEADER
SQL
unset PGPASSWORD
stop_postgres() { as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast stop > /dev/null 2>&1 || true; }
echo "PostgreSQL on 127.0.0.1:$pg_port" >&2
