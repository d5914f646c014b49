#!/usr/bin/env bash
# The whole test suite: starts the services some tests talk to, all on loopback (an
# S3-compatible server, PostgreSQL, MariaDB, Redis; installed when missing), runs every
# test, then builds the XGBoost and LightGBM backends and runs their tests.
# README.md and .ci/run use this.
set -euo pipefail
cd "$(dirname "$0")/.."
log="$(mktemp)"
stop_services() {
  rm -f "$log"
  [[ -n "${moto_pid:-}" ]] && kill "$moto_pid" 2>/dev/null
  declare -F stop_postgres > /dev/null && stop_postgres
  declare -F stop_mariadb > /dev/null && stop_mariadb
  declare -F stop_redis > /dev/null && stop_redis
  true
}
trap stop_services EXIT
# shellcheck source=tests/services/s3.sh
source tests/services/s3.sh
trap stop_services EXIT
# shellcheck source=tests/services/postgres.sh
source tests/services/postgres.sh
# shellcheck source=tests/services/mariadb.sh
source tests/services/mariadb.sh
# shellcheck source=tests/services/redis.sh
source tests/services/redis.sh
# The project's shell scripts (what they decide on a machine image).
for t in tests/scripts/*.sh; do
  bash "$t" 2>&1 | tee -a "$log"
done
# Tests that need a service are #[ignore]d for a plain `cargo test`; here they run.
cargo test --workspace -- --include-ignored 2>&1 | tee -a "$log"
# The XGBoost and LightGBM backends (cargo features): libxgboost.so from PyPI's wheel,
# LightGBM compiled from its sources, the `mlx` binary with both (mlx-shap's tests run
# it), and the tests that need them. Only the mlx crates are compiled again: see the
# note on [workspace.dependencies] in Cargo.toml.
XGBOOST_LIB_DIR="$(bash scripts/xgboost.sh)"
CMAKE="$(bash scripts/lightgbm.sh)"
export XGBOOST_LIB_DIR CMAKE
cargo build -q -p mlx --features xgboost,lightgbm
for package in mlx-train mlx-shap; do
  cargo test -p "$package" --features xgboost,lightgbm -- xgboost lightgbm 2>&1 | tee -a "$log"
done
# One closing line over every test binary (cargo prints one result per binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
