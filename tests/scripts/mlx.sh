#!/usr/bin/env bash
# scripts/mlx.sh, README's first command: from another directory it builds mlx with the
# XGBoost and LightGBM backends (the design documents' core algorithms) and runs it, so
# the README's minimal config (`model_type: xgboost`) passes `config check` and trains.
# (Issue: README's build had neither, and `mlx run` failed after `config check` passed.)
set -uo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
passed=0 failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAILED scripts/mlx.sh: $1"; }
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
version="$(cd "$dir" && bash "$root/scripts/mlx.sh" --version 2> "$dir/build.log")"
if [[ "$version" == *"(backends: xgboost, lightgbm"* ]]; then pass; else
  fail "--version says \`$version\`, not both backends"; tail -20 "$dir/build.log"
fi
cat > "$dir/mlx.yaml" <<'YAML'
data: { sources: [{ name: churn, uri: churn.csv }], target: churned }
pipeline:
  problem_type: classification
  model_type: xgboost
evaluation:
  primary_metric: f1_score
  threshold: 0.8
YAML
if (cd "$dir" && bash "$root/scripts/mlx.sh" config check > /dev/null 2>> "$dir/build.log"); then pass; else
  fail "config check refused the README's minimal config"; tail -5 "$dir/build.log"
fi
echo "test result: $([[ $failed -eq 0 ]] && echo ok || echo FAILED). $passed passed; $failed failed"
[[ $failed -eq 0 ]]
