# A real browser for the `mlx ui` test (bins/mlx/tests/ui.rs): Debian's chromium
# (installed with apt when missing, with sudo when not root) driven by playwright-core
# from the npm registry, installed by `npm ci` from tests/ui/package-lock.json into a
# cache directory keyed by the lock file's hash. Playwright's own browser download is
# never used: the test launches /usr/bin/chromium (executablePath). Source it.
#
# Exports: MLX_TEST_CHROMIUM (the browser), MLX_TEST_PLAYWRIGHT (the node_modules
# directory holding playwright-core).
if ! command -v chromium > /dev/null; then
  sudo_=""; [[ $EUID -ne 0 ]] && sudo_=sudo
  $sudo_ apt-get update -qq
  $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  echo "browser.sh: the UI test needs Node.js 20 and npm (the machine image's)" >&2
  return 1 2>/dev/null || exit 1
fi
browser_lock="$(sha256sum tests/ui/package-lock.json | cut -c1-16)"
browser_dir="${XDG_CACHE_HOME:-$HOME/.cache}/mlx/ui-test-$browser_lock"
if [[ ! -f "$browser_dir/node_modules/playwright-core/package.json" ]]; then
  mkdir -p "$browser_dir"
  cp tests/ui/package.json tests/ui/package-lock.json "$browser_dir/"
  # No install scripts: playwright-core has none, and nothing else may fetch a browser.
  (cd "$browser_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
MLX_TEST_CHROMIUM="$(command -v chromium)"
MLX_TEST_PLAYWRIGHT="$browser_dir/node_modules"
export MLX_TEST_CHROMIUM MLX_TEST_PLAYWRIGHT
echo "chromium $("$MLX_TEST_CHROMIUM" --version 2> /dev/null | awk '{print $2}') with playwright-core from $browser_dir" >&2
