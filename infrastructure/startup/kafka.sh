# Startup script of a Kafka VM (after common.sh): runs at every boot,
# configured by instance metadata (kafka-nodes, kafka-voters, kafka-cluster-id,
# kafka-bootstrap, kafka-extras and the secrets' names). Each KRaft node runs
# Apache Kafka's image with a server.properties written here; brokers keep
# their data on the attached disk. Every listener speaks TLS with a certificate
# of the deployment's own authority (tls.tf), asked for at boot; clients log in
# with SASL/SCRAM-SHA-512 over it and ACLs decide what each may do
# (`fraudstream setup` makes them); the nodes speak to each other as the
# administrator.

KAFKA_IMAGE=apache/kafka:4.1.1
REGISTRY_IMAGE=confluentinc/cp-schema-registry:7.9.0
UI_IMAGE=ghcr.io/kafbat/kafka-ui:v1.5.0
# The boot rehearsal in the tests runs it under BOOT_ROOT, a scratch directory.
ROOT_DIR=${BOOT_ROOT:-}
DATA=$ROOT_DIR/var/lib/kafka
NGINX_DIR=$ROOT_DIR/etc/nginx
TLS_DIR=$DATA/tls
RENEW_WITHIN=2592000 # seconds: a certificate ending within 30 days is renewed at boot
ADMIN=admin

mount_data_disk() {
  local disk=/dev/disk/by-id/google-kafka-data
  blkid "$disk" >/dev/null || mkfs.ext4 -q -m 0 -E lazy_itable_init=0,discard "$disk"
  mkdir -p "$DATA"
  grep -qs " $DATA " "$ROOT_DIR/etc/fstab" ||
    echo "$disk $DATA ext4 defaults,discard,nofail 0 2" >>"$ROOT_DIR/etc/fstab"
  mountpoint -q "$DATA" || mount "$DATA"
}

install_docker() {
  command -v docker >/dev/null || apt_install docker.io
  systemctl enable --now docker
}

# Pulled once per VM: an image already on disk is not asked for again, which
# keeps Docker Hub's limits for anonymous pulls far away.
pull() {
  docker image inspect "$1" >/dev/null 2>&1 || retry "pull $1" docker pull "$1"
}

# node_properties ID CLIENT-PORT CONTROLLER-PORT HOST VOTERS PASSWORD: one
# combined broker and controller, as devstack's kafka_node_properties writes it
# with SASL and TLS (tests/unit/repository/test_infrastructure.py holds the two
# together).
node_properties() {
  local id=$1 client_port=$2 controller_port=$3 host=$4 voters=$5 password=$6
  local login="username=\"$ADMIN\" password=\"$password\""
  cat <<PROPERTIES
process.roles=broker,controller
node.id=$id
controller.quorum.voters=$voters
listeners=SASL_SSL://:$client_port,CONTROLLER://:$controller_port
advertised.listeners=SASL_SSL://$host:$client_port
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_SSL
log.dirs=/var/lib/kafka/data
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=3
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
min.insync.replicas=2
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required $login;
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required $login user_$ADMIN="$password";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:$ADMIN
ssl.keystore.type=PEM
ssl.keystore.location=/etc/kafka/tls/node.pem
ssl.truststore.type=PEM
ssl.truststore.location=/etc/kafka/tls/ca.pem
allow.everyone.if.no.acl.found=false
PROPERTIES
}

# node_certificate: this VM's private key, made here and never leaving it, and a
# certificate for its name (kafka-host) from the deployment's authority, asked for
# again when it ends within RENEW_WITHIN; beside them the authority's certificate, the
# last of the chain the pool answers with. Kafka reads node.pem (key and chain) and
# ca.pem; nginx node.crt and key.pem.
node_certificate() {
  local host
  host=$(metadata kafka-host)
  install -d -m 0750 "$TLS_DIR"
  if ! openssl x509 -checkend "$RENEW_WITHIN" -noout -in "$TLS_DIR/node.crt" >/dev/null 2>&1; then
    (umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
      -out "$TLS_DIR/key.pem")
    openssl req -new -key "$TLS_DIR/key.pem" -subj "/CN=$host" \
      -addext "subjectAltName=DNS:$host" -out "$TLS_DIR/node.csr"
    retry "certificate for $host" gcloud privateca certificates create --quiet \
      --issuer-pool="$(metadata tls-pool)" --issuer-location="$(metadata tls-pool-location)" \
      --csr="$TLS_DIR/node.csr" --cert-output-file="$TLS_DIR/node.crt.new" --validity=P365D
    mv "$TLS_DIR/node.crt.new" "$TLS_DIR/node.crt"
  fi
  (umask 077 && cat "$TLS_DIR/key.pem" "$TLS_DIR/node.crt" >"$TLS_DIR/node.pem")
  awk '/BEGIN CERTIFICATE/ { last = "" } { last = last $0 "\n" } END { printf "%s", last }' \
    "$TLS_DIR/node.crt" >"$TLS_DIR/ca.pem"
  chown -R 1000:1000 "$TLS_DIR" # the user of Kafka's image
}

# format_arguments CLUSTER-ID PASSWORD: the storage tool's class and arguments, one a
# line, quoted as java's @files take them: a node's storage formatted with the
# administrator's SCRAM credentials, so the nodes can log in to each other at once.
format_arguments() {
  printf '"%s"\n' kafka.tools.StorageTool format --config /etc/kafka/server.properties \
    "--cluster-id=$1" --ignore-formatted --add-scram "SCRAM-SHA-512=[name=$ADMIN,password=$2]"
}

# One KRaft node on the host network. The storage is formatted once, with the
# administrator's SCRAM credentials, so the brokers can log in to each other
# from their first start; later boots find it formatted and leave it.
run_node() {
  local id=$1 client_port=$2 controller_port=$3 password=$4 cluster voters dir
  cluster=$(metadata kafka-cluster-id)
  voters=$(metadata kafka-voters)
  dir=$DATA/node-$id
  install -d "$dir" "$dir/data"
  chown 1000:1000 "$dir" "$dir/data"
  node_properties "$id" "$client_port" "$controller_port" "$(hostname -f)" "$voters" "$password" \
    >"$dir/server.properties"
  chown 1000:1000 "$dir/server.properties"
  chmod 0600 "$dir/server.properties"
  local mounts=(-v "$dir/data:/var/lib/kafka/data" -v "$dir/server.properties:/etc/kafka/server.properties:ro"
    -v "$TLS_DIR:/etc/kafka/tls:ro")
  # The storage tool and its arguments, the password among them, go in a file that java
  # reads (an @file), not on a command line; the file goes once the storage is formatted.
  (umask 077 && format_arguments "$cluster" "$password" >"$dir/format.args")
  chown 1000:1000 "$dir/format.args"
  docker run --rm "${mounts[@]}" -v "$dir/format.args:/etc/kafka/format.args:ro" "$KAFKA_IMAGE" \
    /opt/kafka/bin/kafka-run-class.sh @/etc/kafka/format.args >/dev/null
  rm -f "$dir/format.args"
  docker rm -f "kafka-$id" >/dev/null 2>&1 || true
  docker run -d --name "kafka-$id" --restart unless-stopped --network host --log-driver journald \
    -e KAFKA_HEAP_OPTS="-Xms1g -Xmx1g" "${mounts[@]}" \
    "$KAFKA_IMAGE" /opt/kafka/bin/kafka-server-start.sh /etc/kafka/server.properties
}

REGISTRY_PORT=8081      # what the pipeline VMs reach: the proxy, which asks for a login
REGISTRY_BACKEND=18081  # the registry itself, on loopback only

# registry_proxy_config LISTEN UPSTREAM PASSWORD-FILE CERTIFICATE KEY: nginx's
# http-level configuration of the registry's front door, on HTTPS with CERTIFICATE
# (the chain) and KEY. Every request needs a login of PASSWORD-FILE; the
# login "setup" may do anything, any other may read (GET, HEAD) and look a schema up
# (POST /subjects/NAME), nothing else: no registering, deleting or reconfiguring.
# The tests run it in front of the local stack's registry.
registry_proxy_config() {
  local listen=$1 upstream=$2 passwords=$3 certificate=$4 key=$5
  cat <<'NGINX'
map $remote_user $fraudstream_registry_writer {
    setup 1;
    default 0;
}
map "$request_method:$uri" $fraudstream_registry_reading {
    "~^(GET|HEAD):" 1;
    "~^POST:.*/subjects/[^/]+$" 1;
    default 0;
}
NGINX
  cat <<NGINX
server {
    listen $listen ssl;
    ssl_certificate $certificate;
    ssl_certificate_key $key;
    ssl_protocols TLSv1.2 TLSv1.3;
    auth_basic "fraudstream schema registry";
    auth_basic_user_file $passwords;
    client_max_body_size 1m;
    location / {
        set \$fraudstream_registry_allowed "\$fraudstream_registry_writer\$fraudstream_registry_reading";
        if (\$fraudstream_registry_allowed = "00") {
            return 403;
        }
        proxy_pass $upstream;
    }
}
NGINX
}

# registry_passwords LOGIN...: nginx's password file for the "user:password" LOGINs,
# each password hashed (apr1).
registry_passwords() {
  local login
  for login in "$@"; do
    printf '%s:%s\n' "${login%%:*}" "$(openssl passwd -apr1 -stdin <<<"${login#*:}")"
  done
}

run_registry_proxy() {
  local logins=() ids secret_id login
  ids=$(metadata registry-logins)
  for secret_id in $ids; do
    login=$(secret "$secret_id")
    logins+=("$login")
  done
  command -v nginx >/dev/null || apt_install nginx
  rm -f "$NGINX_DIR/sites-enabled/default"
  registry_passwords "${logins[@]}" | (umask 027 && cat >"$NGINX_DIR/fraudstream-registry.passwords.new")
  chgrp www-data "$NGINX_DIR/fraudstream-registry.passwords.new"
  mv "$NGINX_DIR/fraudstream-registry.passwords.new" "$NGINX_DIR/fraudstream-registry.passwords"
  registry_proxy_config "$REGISTRY_PORT" "http://127.0.0.1:$REGISTRY_BACKEND" \
    "$NGINX_DIR/fraudstream-registry.passwords" "$TLS_DIR/node.crt" "$TLS_DIR/key.pem" \
    >"$NGINX_DIR/conf.d/fraudstream-registry.conf"
  nginx -t -q
  systemctl enable nginx
  systemctl reload-or-restart nginx
}

# The registry logs in as a principal of its own, which may touch only its
# schemas' topic and its groups (`fraudstream setup` makes it; until then the
# registry is refused and Docker starts it again), and listens on loopback: the
# pipeline reaches it through the proxy above. Kafka UI logs in as its own principal, which may
# describe topics and groups but read no record, runs read-only, and asks for
# a login (user "admin", the kafka-ui-login secret). Secrets reach the
# containers through root-only files, not command lines.
run_registry_and_ui() {
  local bootstrap password ui_password ui_login scram env=$ROOT_DIR/etc/fraudstream-kafka
  bootstrap=$(metadata kafka-bootstrap)
  password=$(secret "$(metadata kafka-registry-secret)")
  ui_password=$(secret "$(metadata kafka-ui-secret)")
  ui_login=$(secret "$(metadata kafka-ui-login-secret)")
  scram="org.apache.kafka.common.security.scram.ScramLoginModule required"
  install -d -m 0700 "$env"
  (
    umask 077
    cat >"$env/registry.env" <<ENV
SCHEMA_REGISTRY_HOST_NAME=$(hostname -f)
SCHEMA_REGISTRY_LISTENERS=http://127.0.0.1:$REGISTRY_BACKEND
SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS=SASL_SSL://${bootstrap//,/,SASL_SSL://}
SCHEMA_REGISTRY_KAFKASTORE_TOPIC_REPLICATION_FACTOR=3
SCHEMA_REGISTRY_KAFKASTORE_SECURITY_PROTOCOL=SASL_SSL
SCHEMA_REGISTRY_KAFKASTORE_SSL_TRUSTSTORE_TYPE=PEM
SCHEMA_REGISTRY_KAFKASTORE_SSL_TRUSTSTORE_LOCATION=/etc/kafka/tls/ca.pem
SCHEMA_REGISTRY_KAFKASTORE_SASL_MECHANISM=SCRAM-SHA-512
SCHEMA_REGISTRY_KAFKASTORE_SASL_JAAS_CONFIG=$scram username="schema-registry" password="$password";
ENV
    cat >"$env/ui.env" <<ENV
SERVER_PORT=9080
AUTH_TYPE=LOGIN_FORM
SPRING_SECURITY_USER_NAME=admin
SPRING_SECURITY_USER_PASSWORD=$ui_login
KAFKA_CLUSTERS_0_NAME=fraudstream
KAFKA_CLUSTERS_0_BOOTSTRAPSERVERS=$bootstrap
KAFKA_CLUSTERS_0_READONLY=true
KAFKA_CLUSTERS_0_SCHEMAREGISTRY=http://127.0.0.1:$REGISTRY_BACKEND
KAFKA_CLUSTERS_0_PROPERTIES_SECURITY_PROTOCOL=SASL_SSL
KAFKA_CLUSTERS_0_PROPERTIES_SSL_TRUSTSTORE_TYPE=PEM
KAFKA_CLUSTERS_0_PROPERTIES_SSL_TRUSTSTORE_LOCATION=/etc/kafka/tls/ca.pem
KAFKA_CLUSTERS_0_PROPERTIES_SASL_MECHANISM=SCRAM-SHA-512
KAFKA_CLUSTERS_0_PROPERTIES_SASL_JAAS_CONFIG=$scram username="kafka-ui" password="$ui_password";
ENV
  )
  pull "$REGISTRY_IMAGE"
  pull "$UI_IMAGE"
  docker rm -f schema-registry kafka-ui >/dev/null 2>&1 || true
  docker run -d --name schema-registry --restart unless-stopped --network host \
    --log-driver journald --env-file "$env/registry.env" -v "$TLS_DIR/ca.pem:/etc/kafka/tls/ca.pem:ro" \
    "$REGISTRY_IMAGE"
  docker run -d --name kafka-ui --restart unless-stopped --network host \
    --log-driver journald --env-file "$env/ui.env" -v "$TLS_DIR/ca.pem:/etc/kafka/tls/ca.pem:ro" \
    "$UI_IMAGE"
  run_registry_proxy
}

main() {
  local nodes extras password node id client_port controller_port
  nodes=$(metadata kafka-nodes)
  extras=$(metadata kafka-extras)
  password=$(secret "$(metadata kafka-admin-secret)")
  install_ops_agent
  mount_data_disk
  install_docker
  node_certificate
  pull "$KAFKA_IMAGE"
  for node in $nodes; do
    IFS=: read -r id client_port controller_port <<<"$node"
    run_node "$id" "$client_port" "$controller_port" "$password"
  done
  if [ "$extras" = "true" ]; then
    run_registry_and_ui
  fi
}

# Run at boot; sourced by the tests, which call node_properties alone.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  main
fi
