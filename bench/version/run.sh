#!/usr/bin/env bash
# `mlx version add` against `dvc add` (and sha256sum, cp) on the same data, in one run,
# both in copy mode (the safe default of each on a file system without reflinks):
# one large file (2 GiB by default) and a directory of many small files (100,000).
# Prints seconds, ratios and peak RSS. Data is generated into a cache directory.
#
#   bash bench/version/run.sh
#   BIG_MIB=512 SMALL_FILES=20000 bash bench/version/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
cache="${XDG_CACHE_HOME:-$HOME/.cache}/mlx"
venv="${MLX_BENCH_DVC_VENV:-$cache/bench-dvc-venv}"
[[ -x "$venv/bin/dvc" ]] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q -r bench/version/requirements.txt; }
[[ -n "${MLX_BENCH_NO_BUILD:-}" ]] || cargo build --release -q -p mlx
target_dir="${CARGO_TARGET_DIR:-target}"
[[ "$target_dir" == /* ]] || target_dir="$PWD/$target_dir"
mlx="$target_dir/release/mlx"
work="${MLX_BENCH_DATA:-$cache/bench-version}"
big_mib="${BIG_MIB:-2048}"
small="${SMALL_FILES:-100000}"
mkdir -p "$work"
if [[ ! -f "$work/big.bin" ]] || [[ "$(stat -c %s "$work/big.bin")" != "$((big_mib << 20))" ]]; then
  head -c "$((big_mib << 20))" /dev/urandom > "$work/big.bin"
fi
if [[ ! -d "$work/small" ]] || [[ "$(find "$work/small" -type f | wc -l)" != "$small" ]]; then
  rm -rf "$work/small"
  python3 - "$work/small" "$small" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"{i // 1000:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{i}.txt"), "w") as f:
        f.write(f"row {i}\n" * (1 + i % 7))
PY
fi

timed() {  # prints "seconds peak_MiB" of a command run in $1
  local dir="$1"; shift
  # Each starts with nothing left to write back from the one before: mlx ends a
  # directory add with one syncfs(2), which would otherwise also pay for earlier writes.
  sync
  ( cd "$dir" && /usr/bin/time -f "%e %M" -o "$work/.time" "$@" > /dev/null 2>&1 )
  awk '{ printf "%s %.0f\n", $1, $2 / 1024 }' "$work/.time"
}

fresh() {  # a fresh project holding a link to the data
  rm -rf "$work/$1" && mkdir -p "$work/$1" && cd "$work/$1" && git init -q && cd - > /dev/null
  ln "$work/big.bin" "$work/$1/big.bin" 2>/dev/null || cp "$work/big.bin" "$work/$1/big.bin"
  cp -r "$work/small" "$work/$1/small"
}

# The same link mode on both sides: a full copy into the cache (DVC's default is
# reflink, else copy; mlx's default is copy). Neither overwrites the working file.
fresh dvcp; ( cd "$work/dvcp" && "$venv/bin/dvc" init -q && "$venv/bin/dvc" config cache.type copy )
fresh mlxp; printf 'data:\n  versioning:\n    link: copy\n' > "$work/mlxp/mlx.yaml"
rm -rf "$work/cpdst" && mkdir -p "$work/cpdst"

read -r t_sum m_sum < <(timed "$work" sha256sum big.bin)
read -r t_cp _ < <(timed "$work" cp big.bin cpdst/big.bin)
read -r t_dvc m_dvc < <(timed "$work/dvcp" "$venv/bin/dvc" add -q big.bin)
read -r t_mlx m_mlx < <(timed "$work/mlxp" "$mlx" version add big.bin)
read -r t_mlx2 _ < <(timed "$work/mlxp" "$mlx" version add big.bin)
echo "one ${big_mib} MiB file:"
printf "  sha256sum            %7.2f s  %5s MiB\n" "$t_sum" "$m_sum"
printf "  cp                   %7.2f s\n" "$t_cp"
printf "  dvc add              %7.2f s  %5s MiB\n" "$t_dvc" "$m_dvc"
printf "  mlx version add      %7.2f s  %5s MiB   (again, unchanged: %.2f s)\n" "$t_mlx" "$m_mlx" "$t_mlx2"
python3 -c "print(f'  mlx is {$t_dvc/$t_mlx:.2f}x faster than dvc; {$t_mlx/max($t_sum,$t_cp):.2f}x the limit (the larger of hashing and copying)')"

read -r t_sum _ < <(timed "$work" sh -c 'find small -type f -print0 | xargs -0 sha256sum')
read -r t_cp _ < <(timed "$work" cp -r small cpdst/small)
read -r t_dvc m_dvc < <(timed "$work/dvcp" "$venv/bin/dvc" add -q small)
read -r t_mlx m_mlx < <(timed "$work/mlxp" "$mlx" version add small)
echo "${small} small files:"
printf "  sha256sum            %7.2f s\n" "$t_sum"
printf "  cp -r                %7.2f s\n" "$t_cp"
printf "  dvc add              %7.2f s  %5s MiB\n" "$t_dvc" "$m_dvc"
printf "  mlx version add      %7.2f s  %5s MiB\n" "$t_mlx" "$m_mlx"
python3 -c "print(f'  mlx is {$t_dvc/$t_mlx:.2f}x faster than dvc; {$t_mlx/max($t_sum,$t_cp):.2f}x the limit (the larger of hashing and copying)')"
rm -rf "$work/cpdst"
