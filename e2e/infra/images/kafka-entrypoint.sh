#!/bin/sh
# Entrypoint of localhost/im-kafka: a single-node KRaft broker+controller.
# KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093) and KAFKA_HOST (127.0.0.1)
# pick the listeners so that several instances can share the host network.
# Every other KAFKA_<NAME> variable becomes the broker property <name>, with
# the same mapping as the upstream apache/kafka image ('_' -> '.',
# '__' -> '_', '___' -> '-'), so both images take the same environment.
set -eu
host="${KAFKA_HOST:-127.0.0.1}"
port="${KAFKA_PORT:-9092}"
cport="${KAFKA_CONTROLLER_PORT:-9093}"
node="${KAFKA_NODE_ID:-1}"
data=/var/lib/kafka
conf="$data/server.properties"
mkdir -p "$data/logs"

# Defaults for a fast single-node test broker: replication factor 1 for the
# internal topics and no initial rebalance delay for consumer groups.
{
  echo "node.id=$node"
  echo "process.roles=broker,controller"
  echo "listeners=PLAINTEXT://$host:$port,CONTROLLER://$host:$cport"
  echo "advertised.listeners=PLAINTEXT://$host:$port"
  echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  echo "controller.listener.names=CONTROLLER"
  echo "inter.broker.listener.name=PLAINTEXT"
  echo "controller.quorum.voters=$node@$host:$cport"
  echo "log.dirs=$data/logs"
  echo "num.partitions=1"
  echo "offsets.topic.replication.factor=1"
  echo "offsets.topic.num.partitions=1"
  echo "transaction.state.log.replication.factor=1"
  echo "transaction.state.log.min.isr=1"
  echo "share.coordinator.state.topic.replication.factor=1"
  echo "share.coordinator.state.topic.min.isr=1"
  echo "group.initial.rebalance.delay.ms=0"
  echo "auto.create.topics.enable=true"
  # Later lines win in a properties file, so the environment overrides.
  env | grep '^KAFKA_' | while IFS='=' read -r name value; do
    case "$name" in
      KAFKA_HOST|KAFKA_PORT|KAFKA_CONTROLLER_PORT|KAFKA_HEAP_OPTS|KAFKA_JVM_OPTS|KAFKA_LOG_LEVEL) continue ;;
    esac
    key=$(printf '%s' "${name#KAFKA_}" | tr '[:upper:]' '[:lower:]' |
      sed -e 's/___/-/g' -e 's/__/@/g' -e 's/_/./g' -e 's/@/_/g')
    echo "$key=$value"
  done
} > "$conf"

# Small heap and C1 only: a test broker should start fast on 2 cores.
java_opts="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} ${KAFKA_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1}"
java_opts="$java_opts -Dorg.slf4j.simpleLogger.defaultLogLevel=${KAFKA_LOG_LEVEL:-info}"
java_opts="$java_opts -Dorg.slf4j.simpleLogger.showDateTime=true -Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS"
cp="/opt/kafka/libs/*"

# Format once: a restarted container keeps its log dir and must not reformat.
if [ ! -f "$data/logs/meta.properties" ]; then
  # shellcheck disable=SC2086
  java $java_opts -cp "$cp" kafka.tools.StorageTool format \
    --config "$conf" --cluster-id "${CLUSTER_ID:-M6TksNWYQBKxqyFpud1vNw}" --ignore-formatted
fi
# shellcheck disable=SC2086
exec java $java_opts -cp "$cp" kafka.Kafka "$conf"
