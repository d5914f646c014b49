# Shared by the benchmark scripts; source it from the repository root.
#   bench_setup <venv-name> <requirements.txt> [cargo package]
# creates or updates the peer's virtual environment in the cache directory ($venv),
# builds the package in release mode unless MLX_BENCH_NO_BUILD is set, and sets $cache,
# $venv and $target.
#   time_of <command...>  prints "seconds peak_MiB" of the command (its stderr is kept in
# $work/.stderr); needs $work.
bench_setup() {
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/mlx"
  venv="${MLX_BENCH_VENV:-$cache/$1}"
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r "$2"
  [[ -n "${MLX_BENCH_NO_BUILD:-}" ]] || cargo build --release -q -p "${3:-mlx}"
  case "${CARGO_TARGET_DIR:-target}" in
    /*) target="$CARGO_TARGET_DIR" ;;
    *) target="$PWD/${CARGO_TARGET_DIR:-target}" ;;
  esac
}

time_of() {
  /usr/bin/time -f "%e %M" -o "$work/.time" "$@" > /dev/null 2> "$work/.stderr"
  awk '{ printf "%s %.0f\n", $1, $2 / 1024 }' "$work/.time"
}
