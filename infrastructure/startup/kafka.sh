#!/bin/bash
# Startup script of a Kafka VM: runs on every boot, configured by instance
# metadata (kafka-nodes, kafka-voters, kafka-cluster-id, kafka-bootstrap,
# kafka-extras). Brokers keep their data on the attached disk.
set -euo pipefail

KAFKA_IMAGE=apache/kafka:4.1.1
REGISTRY_IMAGE=confluentinc/cp-schema-registry:7.9.0
UI_IMAGE=provectuslabs/kafka-ui:v0.7.2
DATA=/var/lib/kafka

metadata() {
  curl -sSf -H "Metadata-Flavor: Google" \
    "http://metadata.google.internal/computeMetadata/v1/instance/attributes/$1"
}

mount_data_disk() {
  local disk=/dev/disk/by-id/google-kafka-data
  blkid "$disk" >/dev/null || mkfs.ext4 -q -m 0 -E lazy_itable_init=0,discard "$disk"
  mkdir -p "$DATA"
  grep -q " $DATA " /etc/fstab || echo "$disk $DATA ext4 defaults,discard,nofail 0 2" >>/etc/fstab
  mountpoint -q "$DATA" || mount "$DATA"
}

install_docker() {
  command -v docker >/dev/null && return
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
  systemctl enable --now docker
}

# One KRaft node: broker and controller in one process, on the host network.
run_node() {
  local id=$1 client_port=$2 controller_port=$3 host
  host=$(hostname -f)
  install -d -o 1000 -g 1000 "$DATA/node-$id"
  docker rm -f "kafka-$id" >/dev/null 2>&1 || true
  docker run -d --name "kafka-$id" --restart unless-stopped --network host \
    --log-driver journald \
    -v "$DATA/node-$id:/var/lib/kafka/data" \
    -e CLUSTER_ID="$(metadata kafka-cluster-id)" \
    -e KAFKA_NODE_ID="$id" \
    -e KAFKA_PROCESS_ROLES=broker,controller \
    -e KAFKA_LISTENERS="PLAINTEXT://:$client_port,CONTROLLER://:$controller_port" \
    -e KAFKA_ADVERTISED_LISTENERS="PLAINTEXT://$host:$client_port" \
    -e KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT \
    -e KAFKA_CONTROLLER_LISTENER_NAMES=CONTROLLER \
    -e KAFKA_CONTROLLER_QUORUM_VOTERS="$(metadata kafka-voters)" \
    -e KAFKA_LOG_DIRS=/var/lib/kafka/data \
    -e KAFKA_AUTO_CREATE_TOPICS_ENABLE=false \
    -e KAFKA_DEFAULT_REPLICATION_FACTOR=3 \
    -e KAFKA_MIN_INSYNC_REPLICAS=2 \
    -e KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=3 \
    -e KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=3 \
    -e KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=2 \
    -e KAFKA_HEAP_OPTS="-Xms1g -Xmx1g" \
    "$KAFKA_IMAGE"
}

run_registry_and_ui() {
  local bootstrap
  bootstrap=$(metadata kafka-bootstrap)
  docker rm -f schema-registry kafka-ui >/dev/null 2>&1 || true
  docker run -d --name schema-registry --restart unless-stopped --network host \
    --log-driver journald \
    -e SCHEMA_REGISTRY_HOST_NAME="$(hostname -f)" \
    -e SCHEMA_REGISTRY_LISTENERS=http://0.0.0.0:8081 \
    -e SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS="$bootstrap" \
    -e SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR=3 \
    "$REGISTRY_IMAGE"
  docker run -d --name kafka-ui --restart unless-stopped --network host \
    --log-driver journald \
    -e SERVER_PORT=9080 \
    -e KAFKA_CLUSTERS_0_NAME=fraudstream \
    -e KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS="$bootstrap" \
    -e KAFKA_CLUSTERS_0_SCHEMAREGISTRY=http://localhost:8081 \
    "$UI_IMAGE"
}

mount_data_disk
install_docker
for node in $(metadata kafka-nodes); do
  IFS=: read -r id client_port controller_port <<<"$node"
  run_node "$id" "$client_port" "$controller_port"
done
if [ "$(metadata kafka-extras)" = "true" ]; then
  run_registry_and_ui
fi
