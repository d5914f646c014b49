# Installs kubernetes-validate (PyPI) into a virtual environment in a cache directory
# and exports where it is, for the tests of `mlx export kubernetes`.
# Source it: `source tests/kubernetes/validate.sh`.
kube_venv="${MLX_KUBERNETES_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mlx/kubernetes-venv}"
kube_requirements="$(dirname "${BASH_SOURCE[0]}")/requirements.txt"
# Reinstalled when the pinned version changes.
if ! cmp -s "$kube_requirements" "$kube_venv/requirements.txt" 2> /dev/null; then
  rm -rf "$kube_venv"
  python3 -m venv "$kube_venv"
  "$kube_venv/bin/pip" install -q -r "$kube_requirements"
  cp "$kube_requirements" "$kube_venv/requirements.txt"
fi
export MLX_TEST_KUBERNETES_VALIDATE="$kube_venv/bin/kubernetes-validate"
echo "kubernetes-validate $("$MLX_TEST_KUBERNETES_VALIDATE" --version)" >&2
