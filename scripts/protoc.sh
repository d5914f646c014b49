#!/usr/bin/env bash
# Makes sure protoc is installed: the Spark Connect client (apache-spark-connect,
# lib/mlx-spark) generates its gRPC bindings with it at build time. Sourced by
# scripts/backends.sh (scripts/mlx.sh, tests/run.sh) and .ci/run before the first
# cargo command. What is missing is installed from Debian's `protobuf-compiler`; a
# failed install stops with apt's own output. $PROTOC, when set, names the compiler.
ensure_protoc() {
  if [[ -n "${PROTOC:-}" && -x "$PROTOC" ]] || command -v protoc > /dev/null; then
    return 0
  fi
  local sudo_=""
  [[ $EUID -ne 0 ]] && sudo_=sudo
  echo "protoc (needed to build the Spark Connect client) is missing: installing Debian's protobuf-compiler" >&2
  if ! { $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler; } >&2; then
    echo "error: installing protobuf-compiler failed (see apt's output above); install it by hand, or set PROTOC to a protoc binary" >&2
    return 1
  fi
}
ensure_protoc
