# Installs Debian's kcat, the independent Kafka client the Kafka tests produce their
# records with, and exports MLX_TEST_KCAT. Source it. The broker itself is librdkafka's
# mock cluster, started inside each test (no Kafka broker can be installed from the
# registries this project builds from: docs/streaming.md says what that covers).
if ! command -v kcat > /dev/null; then
  sudo_=""; [[ $EUID -ne 0 ]] && sudo_=sudo
  $sudo_ apt-get update -qq && $sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat > /dev/null
fi
export MLX_TEST_KCAT="$(command -v kcat)"
echo "kcat: $MLX_TEST_KCAT" >&2
