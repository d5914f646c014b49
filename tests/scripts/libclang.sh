#!/usr/bin/env bash
# scripts/libclang.sh finds the libclang bindgen loads, and only that one: a machine
# image with nothing but libclang-cpp (the C++ interface) must count as having none, so
# that libclang-dev gets installed (issue: the README's test command failed on a fresh
# machine because `libclang*.so*` matched libclang-cpp.so.14).
set -uo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/libclang.sh
source scripts/libclang.sh
passed=0 failed=0
check() { # check NAME EXPECTED(0|1) FILES...
  local name=$1 want=$2 dir
  shift 2
  dir="$(mktemp -d)"
  for f in "$@"; do touch "$dir/$f"; done
  have_libclang "$dir"
  local got=$?
  rm -rf "$dir"
  if [[ $got -eq $want ]]; then passed=$((passed + 1)); else
    failed=$((failed + 1)); echo "FAILED libclang: $name (have_libclang returned $got, expected $want)"
  fi
}
check "libclang-cpp alone is not libclang" 1 libclang-cpp.so.14 libclang-cpp.so
check "an empty directory" 1
check "Debian's libclang1-14 (versioned name)" 0 libclang-14.so.1
check "libclang-dev's unversioned link" 0 libclang.so
check "a soname" 0 libclang.so.1
echo "test result: $([[ $failed -eq 0 ]] && echo ok || echo FAILED). $passed passed; $failed failed"
[[ $failed -eq 0 ]]
