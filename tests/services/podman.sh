# Podman for the image tests (bins/mlx/tests/image.rs): installs Debian's podman and
# runc when missing (with sudo when not root) and writes a wrapper that keeps every
# image and container in a scratch store, never the system's, with the settings that
# make podman run containers on this kind of machine (shared/BUILD-NOTES.md): the runc
# runtime (crun fails here: "cgroups in hybrid mode not supported"), cgroupfs, file
# events and explicit ulimits. Exports MLX_TEST_PODMAN (the wrapper). Source it.
if ! command -v podman > /dev/null || ! command -v runc > /dev/null; then
  sudo_=""; [[ $EUID -ne 0 ]] && sudo_=sudo
  $sudo_ apt-get update -qq
  $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc > /dev/null
fi
podman_dir="$(mktemp -d)"
cat > "$podman_dir/containers.conf" << CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
cat > "$podman_dir/podman" << WRAPPER
#!/bin/sh
CONTAINERS_CONF="$podman_dir/containers.conf" exec podman --root "$podman_dir/root" \
  --runroot "$podman_dir/run" --tmpdir "$podman_dir/tmp" "\$@"
WRAPPER
chmod +x "$podman_dir/podman"
export MLX_TEST_PODMAN="$podman_dir/podman"
stop_podman() {
  "$MLX_TEST_PODMAN" rm -a -f > /dev/null 2>&1 || true
  "$MLX_TEST_PODMAN" system reset -f > /dev/null 2>&1 || true
  rm -rf "$podman_dir" 2> /dev/null || true
}
echo "podman $(podman --version | awk '{print $3}') with a store in $podman_dir" >&2
