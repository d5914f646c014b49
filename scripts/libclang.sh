#!/usr/bin/env bash
# Makes sure the libclang that bindgen loads is installed (sourced by xgboost.sh and
# lightgbm.sh, whose crates generate their bindings with it).
#
# bindgen (clang-sys) loads `libclang.so`, `libclang.so.N` or `libclang-N.so[.M]` from
# $LIBCLANG_PATH, llvm-config's libdir or the usual library directories. Debian images
# often ship `libclang-cpp.so.N` (package libclang-cpp14), the C++ interface, which is
# *not* that library: the patterns below do not match it. What is missing is installed
# from Debian's `libclang-dev`; a failed install stops the script with apt's own output.
# have_libclang [DIR...]: whether one of DIR (default: the directories bindgen searches)
# holds that library.
have_libclang() {
  local dir f
  (($#)) || set -- ${LIBCLANG_PATH:+"$LIBCLANG_PATH"} /usr/lib/llvm-*/lib /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib
  for dir in "$@"; do
    for f in "$dir"/libclang.so "$dir"/libclang.so.[0-9]* "$dir"/libclang-[0-9]*.so*; do
      [[ -e "$f" ]] && return 0
    done
  done
  return 1
}

ensure_libclang() {
  have_libclang && return 0
  local sudo_=""
  [[ $EUID -ne 0 ]] && sudo_=sudo
  echo "libclang (needed by bindgen) is missing: installing Debian's libclang-dev" >&2
  # apt's output goes to stderr: stdout of the calling script is the path it prints.
  if ! { $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libclang-dev; } >&2; then
    echo "error: installing libclang-dev failed (see apt's output above); install it by hand, or set LIBCLANG_PATH to a directory holding libclang.so" >&2
    return 1
  fi
  if ! have_libclang; then
    echo "error: libclang-dev is installed but no libclang.so was found; set LIBCLANG_PATH to the directory that holds it" >&2
    return 1
  fi
}
