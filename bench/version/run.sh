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
# A shared disk is noisy: each line is the median of $RUNS rounds (3 by default), each
# round on fresh projects. "cp + sync" is the copy made durable, as mlx makes its
# cache (fsync of a large object, one syncfs after many small ones); DVC does not sync.
runs="${RUNS:-3}"
declare -A t m
for ((r = 0; r < runs; r++)); do
  fresh dvcp; ( cd "$work/dvcp" && "$venv/bin/dvc" init -q && "$venv/bin/dvc" config cache.type copy )
  fresh mlxp; printf 'data:\n  versioning:\n    link: copy\n' > "$work/mlxp/mlx.yaml"
  rm -rf "$work/cpdst" && mkdir -p "$work/cpdst/a" "$work/cpdst/b"
  while read -r key dir cmd; do
    read -r secs mib < <(eval "timed \"$dir\" $cmd")
    t[$key]+="$secs "; m[$key]+="$mib "
  done <<EOF2
big_sum $work sha256sum big.bin
big_cp $work cp big.bin cpdst/a/big.bin
big_cps $work sh -c 'cp big.bin cpdst/b/big.bin && sync'
big_dvc $work/dvcp $venv/bin/dvc add -q big.bin
big_mlx $work/mlxp $mlx version add big.bin
big_mlx2 $work/mlxp $mlx version add big.bin
small_sum $work sh -c 'find small -type f -print0 | xargs -0 sha256sum'
small_cp $work cp -r small cpdst/a/small
small_cps $work sh -c 'cp -r small cpdst/b/small && sync'
small_dvc $work/dvcp $venv/bin/dvc add -q small
small_mlx $work/mlxp $mlx version add small
EOF2
done
med() { tr ' ' '\n' <<< "$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
report() {  # $1: big or small, $2: title
  local k="$1"
  echo "$2 (median of $runs):"
  printf "  sha256sum            %7.2f s\n" "$(med "${t[${k}_sum]}")"
  printf "  cp                   %7.2f s\n" "$(med "${t[${k}_cp]}")"
  printf "  cp + sync            %7.2f s\n" "$(med "${t[${k}_cps]}")"
  printf "  dvc add              %7.2f s  %5s MiB\n" "$(med "${t[${k}_dvc]}")" "$(med "${m[${k}_dvc]}")"
  printf "  mlx version add      %7.2f s  %5s MiB\n" "$(med "${t[${k}_mlx]}")" "$(med "${m[${k}_mlx]}")"
  [[ -z "${t[${k}_mlx2]:-}" ]] || printf "  ... again, unchanged %7.2f s\n" "$(med "${t[${k}_mlx2]}")"
  python3 - "$(med "${t[${k}_sum]}")" "$(med "${t[${k}_cp]}")" "$(med "${t[${k}_cps]}")" \
    "$(med "${t[${k}_dvc]}")" "$(med "${t[${k}_mlx]}")" <<'PY'
import sys
s, c, cs, d, x = map(float, sys.argv[1:])
print(f"  mlx is {d / x:.2f}x faster than dvc; {x / max(s, c):.2f}x the limit (the larger of "
      f"hashing and copying), {x / max(s, cs):.2f}x with the copy made durable")
PY
}
report big "one ${big_mib} MiB file"
report small "${small} small files"
rm -rf "$work/cpdst"
