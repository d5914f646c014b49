# Starts a real Apache Spark cluster on loopback for the tests and exports where it is:
# a standalone master, MLX_SPARK_WORKERS workers (default 1; one core and 1 GiB each)
# and the Spark Connect server against that master, every port bound to 127.0.0.1.
# Source it: `source tests/services/spark.sh`; `stop_spark` stops every process by
# its process id (the caller's EXIT trap should call it).
#
# Spark comes from PyPI's `pyspark` (it carries Spark itself, with the Connect server's
# jar) installed into a virtual environment in a cache directory; Java 17 is on the
# machine image. Nothing is downloaded at run time.
#
# Exports: MLX_TEST_SPARK_REMOTE (sc://127.0.0.1:PORT), MLX_TEST_SPARK_MASTER
# (spark://127.0.0.1:PORT), MLX_TEST_SPARK_UI (the Connect driver's UI),
# MLX_TEST_SPARK_STORAGE (a scratch directory the cluster writes to),
# MLX_TEST_SPARK_WORKER_PIDS (so a test can kill a worker), SPARK_HOME.
spark_venv="${MLX_SPARK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/mlx/spark-venv}"
spark_version="4.3.0"
if [[ ! -x "$spark_venv/bin/python" ]] ||
  ! "$spark_venv/bin/python" -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$spark_version')" 2>/dev/null; then
  python3 -m venv "$spark_venv"
  "$spark_venv/bin/pip" install -q "pyspark==$spark_version"
fi
if ! command -v java > /dev/null; then
  echo "spark.sh: Spark needs Java 17 (Debian's openjdk-17-jre-headless)" >&2
  return 1 2>/dev/null || exit 1
fi
SPARK_HOME="$("$spark_venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
export SPARK_HOME
spark_dir="$(mktemp -d "${TMPDIR:-/tmp}/mlx-spark.XXXXXX")"
spark_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
spark_wait_port() { # port seconds
  for _ in $(seq 1 $(($2 * 4))); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.25
  done
  return 1
}
export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_DIRS="$spark_dir/local" \
  SPARK_LOG_DIR="$spark_dir/logs" SPARK_PID_DIR="$spark_dir/pids" \
  SPARK_DAEMON_MEMORY=512m SPARK_NO_DAEMONIZE=1
mkdir -p "$spark_dir/local" "$spark_dir/logs" "$spark_dir/pids" "$spark_dir/storage"
spark_master_port="$(spark_free_port)"
"$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
  --host 127.0.0.1 --port "$spark_master_port" --webui-port "$(spark_free_port)" \
  > "$spark_dir/logs/master.log" 2>&1 &
spark_pids=("$!")
export MLX_TEST_SPARK_MASTER="spark://127.0.0.1:$spark_master_port"
spark_wait_port "$spark_master_port" 120 || echo "spark.sh: the master did not start; see $spark_dir/logs/master.log" >&2
MLX_TEST_SPARK_WORKER_PIDS=""
for w in $(seq 1 "${MLX_SPARK_WORKERS:-1}"); do
  mkdir -p "$spark_dir/worker-$w"
  "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    --host 127.0.0.1 --cores 1 --memory 1g --work-dir "$spark_dir/worker-$w" \
    --webui-port "$(spark_free_port)" "$MLX_TEST_SPARK_MASTER" \
    > "$spark_dir/logs/worker-$w.log" 2>&1 &
  spark_pids+=("$!")
  MLX_TEST_SPARK_WORKER_PIDS="$MLX_TEST_SPARK_WORKER_PIDS $!"
done
export MLX_TEST_SPARK_WORKER_PIDS="${MLX_TEST_SPARK_WORKER_PIDS# }"
spark_connect_port="$(spark_free_port)"
spark_ui_port="$(spark_free_port)"
"$SPARK_HOME/bin/spark-submit" --class org.apache.spark.sql.connect.service.SparkConnectServer \
  --name "mlx tests" --master "$MLX_TEST_SPARK_MASTER" \
  --driver-memory 1g --executor-memory 768m \
  --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
  --conf spark.ui.port="$spark_ui_port" \
  --conf spark.connect.grpc.binding.address=127.0.0.1 \
  --conf spark.connect.grpc.binding.port="$spark_connect_port" \
  --conf spark.sql.shuffle.partitions=4 \
  --conf spark.task.maxFailures=4 \
  > "$spark_dir/logs/connect.log" 2>&1 &
spark_pids+=("$!")
stop_spark() {
  # Executors are children of the workers; the workers kill them when they stop.
  local p
  for p in "${spark_pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${spark_pids[@]}"; do
    for _ in $(seq 1 40); do
      kill -0 "$p" 2>/dev/null || break
      sleep 0.25
    done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$spark_dir"
}
if spark_wait_port "$spark_connect_port" 300; then
  export MLX_TEST_SPARK_REMOTE="sc://127.0.0.1:$spark_connect_port"
  export MLX_TEST_SPARK_UI="http://127.0.0.1:$spark_ui_port"
  export MLX_TEST_SPARK_STORAGE="$spark_dir/storage"
  echo "Spark $spark_version on $MLX_TEST_SPARK_REMOTE (master $MLX_TEST_SPARK_MASTER, ${MLX_SPARK_WORKERS:-1} worker(s))" >&2
else
  echo "spark.sh: the Connect server did not listen within 300 s; see $spark_dir/logs/connect.log" >&2
  tail -20 "$spark_dir/logs/connect.log" >&2
fi
