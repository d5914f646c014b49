#!/usr/bin/env bash
# The whole test suite: starts the services some tests talk to (an S3-compatible
# server on loopback), then runs every test. README.md and .ci/run use this.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/services/s3.sh
source tests/services/s3.sh
log="$(mktemp)"
trap 'rm -f "$log"; kill "$moto_pid" 2>/dev/null || true' EXIT
# Tests that need a service are #[ignore]d for a plain `cargo test`; here they run.
cargo test --workspace -- --include-ignored 2>&1 | tee "$log"
# One closing line over every test binary (cargo prints one result per binary).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
