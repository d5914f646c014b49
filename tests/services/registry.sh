# An OCI distribution registry (Debian's docker-registry, CNCF distribution 2.8) on
# loopback for the push test (bins/mlx/tests/image.rs): TLS with a certificate made
# here for 127.0.0.1, and basic authentication from an htpasswd file (bcrypt), the way a
# registry behind a company's login is reached. Installs the package when missing (with
# sudo when not root). Exports MLX_TEST_REGISTRY (host:port), MLX_TEST_REGISTRY_CA (the
# certificate to trust), MLX_TEST_REGISTRY_USERNAME and MLX_TEST_REGISTRY_PASSWORD.
# A second registry, MLX_TEST_TOKEN_REGISTRY, takes bearer tokens from a token service
# on loopback (tests/services/token_service.py, the same credentials), as ghcr.io and
# Docker Hub do; the registry verifies the tokens itself. Source it.
if ! command -v docker-registry > /dev/null; then
  sudo_=""; [[ $EUID -ne 0 ]] && sudo_=sudo
  $sudo_ apt-get update -qq
  $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry > /dev/null
fi
registry_dir="$(mktemp -d)"
registry_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
# A CA of its own, and the server's certificate signed by it (a CA certificate itself
# is not accepted as a server's by rustls/webpki).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mlx test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
  -keyout "$registry_dir/ca-key.pem" -out "$registry_dir/ca.pem" 2> /dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
  -keyout "$registry_dir/key.pem" -out "$registry_dir/cert.csr" 2> /dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
  > "$registry_dir/ext.cnf"
openssl x509 -req -in "$registry_dir/cert.csr" -CA "$registry_dir/ca.pem" -CAkey "$registry_dir/ca-key.pem" \
  -CAcreateserial -days 2 -extfile "$registry_dir/ext.cnf" -out "$registry_dir/cert.pem" 2> /dev/null
registry_password="$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
python3 -W ignore -c 'import crypt, sys; print("mlx-ci:" + crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))' \
  "$registry_password" > "$registry_dir/htpasswd"
cat > "$registry_dir/config.yml" << CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $registry_dir/data
http:
  addr: 127.0.0.1:$registry_port
  tls:
    certificate: $registry_dir/cert.pem
    key: $registry_dir/key.pem
auth:
  htpasswd:
    realm: mlx-ci
    path: $registry_dir/htpasswd
CONF
# The token-authenticated one: its token service signs with a key of its own, whose
# self-signed certificate is the registry's root bundle.
token_registry_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
token_service_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mlx test token issuer" \
  -keyout "$registry_dir/token-key.pem" -out "$registry_dir/token-cert.pem" 2> /dev/null
sed -e "s#rootdirectory: .*#rootdirectory: $registry_dir/token-data#" \
  -e "s#addr: .*#addr: 127.0.0.1:$token_registry_port#" \
  -e '/^auth:/,$d' "$registry_dir/config.yml" > "$registry_dir/token-config.yml"
cat >> "$registry_dir/token-config.yml" << CONF
auth:
  token:
    realm: https://127.0.0.1:$token_service_port/token
    service: mlx-ci-registry
    issuer: mlx-ci-issuer
    rootcertbundle: $registry_dir/token-cert.pem
CONF
docker-registry serve "$registry_dir/config.yml" > "$registry_dir/log" 2>&1 &
registry_pid=$!
docker-registry serve "$registry_dir/token-config.yml" > "$registry_dir/token-log" 2>&1 &
token_registry_pid=$!
python3 "$(dirname "${BASH_SOURCE[0]}")/token_service.py" 127.0.0.1 "$token_service_port" \
  "$registry_dir/cert.pem" "$registry_dir/key.pem" "$registry_dir/token-cert.pem" \
  "$registry_dir/token-key.pem" mlx-ci "$registry_password" mlx-ci-issuer \
  > "$registry_dir/token-service-log" 2>&1 &
token_service_pid=$!
for port_ in "$registry_port" "$token_registry_port"; do
  for _ in $(seq 50); do
    # 401: up and asking for credentials.
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$registry_dir/ca.pem" "https://127.0.0.1:$port_/v2/")" == 401 ]] && break
    sleep 0.1
  done
done
export MLX_TEST_REGISTRY="127.0.0.1:$registry_port"
export MLX_TEST_TOKEN_REGISTRY="127.0.0.1:$token_registry_port"
export MLX_TEST_REGISTRY_CA="$registry_dir/ca.pem"
export MLX_TEST_REGISTRY_USERNAME=mlx-ci
export MLX_TEST_REGISTRY_PASSWORD="$registry_password"
stop_registry() {
  kill "$registry_pid" "$token_registry_pid" "$token_service_pid" 2> /dev/null || true
  rm -rf "$registry_dir"
}
echo "OCI registry (docker-registry $(docker-registry --version | awk '{print $3}')) on https://$MLX_TEST_REGISTRY, and with a token service on https://$MLX_TEST_TOKEN_REGISTRY" >&2
