#!/usr/bin/env bash
# The whole test suite: starts the services some tests talk to, all on loopback (an
# S3-compatible server, moto, which also serves Kinesis; PostgreSQL, MariaDB, Redis, an
# OCI registry; installed when missing), installs kcat for the Kafka tests, the
# Kubernetes schema validator, podman, Debian's chromium with
# playwright-core for the `mlx ui` browser test, and the inference protocols' real
# clients (tritonclient, mlflow), and runs every test in a build with the
# XGBoost and LightGBM backends; then starts a Spark cluster on loopback (PyPI's
# pyspark, cached) for the Spark tests, in a step of their own.
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
  declare -F stop_podman > /dev/null && stop_podman
  declare -F stop_registry > /dev/null && stop_registry
  declare -F stop_spark > /dev/null && stop_spark
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
# shellcheck source=tests/services/kafka.sh
source tests/services/kafka.sh
# shellcheck source=tests/kubernetes/validate.sh
source tests/kubernetes/validate.sh
# shellcheck source=tests/services/podman.sh
source tests/services/podman.sh
# shellcheck source=tests/services/registry.sh
source tests/services/registry.sh
# shellcheck source=tests/services/browser.sh
source tests/services/browser.sh
# shellcheck source=tests/services/clients.sh
source tests/services/clients.sh
# The project's shell scripts (what they decide on a machine image).
for t in tests/scripts/*.sh; do
  bash "$t" 2>&1 | tee -a "$log"
done
# Every test, in the build README's first command gives: with the XGBoost and LightGBM
# backends (libxgboost.so from PyPI's wheel, LightGBM compiled from its sources), so
# the examples that train them run here. Tests that need a service are #[ignore]d for
# a plain `cargo test`; here they run.
# shellcheck source=scripts/backends.sh
source scripts/backends.sh
# The Spark tests in their own step, against a real cluster on loopback (two
# workers), started only for them: Spark's JVMs take about a gigabyte each.
cargo test --workspace --features "$MLX_BACKEND_FEATURES" -- --include-ignored --skip on_spark_cluster:: 2>&1 | tee -a "$log"
echo "== Spark (tests/services/spark.sh)"
# shellcheck source=tests/services/spark.sh
MLX_SPARK_WORKERS=2 source tests/services/spark.sh
cargo test --workspace --features "$MLX_BACKEND_FEATURES" --test cluster --test spark -- --include-ignored 2>&1 | tee -a "$log"
# One closing line over every test binary (cargo prints one result per binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
