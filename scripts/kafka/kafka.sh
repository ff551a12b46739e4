#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft, combined broker+controller) on 127.0.0.1,
# fetched from Maven Central by the Maven project beside this script.
#
#   scripts/kafka/kafka.sh start    fetch (once), format (once), start, wait until it answers
#   scripts/kafka/kafka.sh stop     stop the broker this script started
#   scripts/kafka/kafka.sh status   exit 0 when a broker answers on the port
#
# Settings (environment):
#   KAFKA_PORT             client port (default 9092); the controller uses KAFKA_PORT+1
#   KAFKA_HOME_DIR         where jars, config, data and logs go (default <repo>/.kafka)
#   KAFKA_HEAP_OPTS        JVM heap (default -Xms256m -Xmx1g)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker (default 120)
#
# A SASL_SSL listener beside the plaintext one (tests/integration/test_kafka_security.py runs one):
#   KAFKA_SASL_SSL_PORT          its port; unset: no such listener
#   KAFKA_SSL_KEYSTORE           the broker's key and certificate chain, a PKCS12 file
#   KAFKA_SSL_KEYSTORE_PASSWORD  that file's password
#   KAFKA_SASL_PLAIN_USERS       user:password,... accepted by SASL/PLAIN; SCRAM users are made through
#                                the admin API (confluent-kafka's alter_user_scram_credentials)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PORT="${KAFKA_PORT:-9092}"
CONTROLLER_PORT="$((PORT + 1))"
HOME_DIR="${KAFKA_HOME_DIR:-$REPO/.kafka}"
LIB="$HOME_DIR/lib"
CONF="$HOME_DIR/config"
DATA="$HOME_DIR/data-$PORT"
LOGS="$HOME_DIR/logs-$PORT"
PIDFILE="$HOME_DIR/broker-$PORT.pid"
TIMEOUT="${KAFKA_START_TIMEOUT:-120}"

log() { echo "[kafka] $*" >&2; }

answers() {
  # A TCP connect is not enough (a half-started JVM listens early); the log line is written
  # once the broker has registered with the controller and serves clients.
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || return 1
  if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    grep -q "Kafka Server started" "$LOGS/server.log" 2>/dev/null
  else
    return 0 # somebody else's broker: it accepts connections, reuse it
  fi
}

fetch() {
  if [[ -f "$LIB/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || { log "Maven (mvn) is required to fetch the broker"; exit 2; }
  command -v java >/dev/null || { log "Java 17+ is required to run the broker"; exit 2; }
  log "fetching Apache Kafka from Maven Central into $LIB (once)"
  mkdir -p "$LIB"
  mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$LIB" >&2
  touch "$LIB/.complete"
}

sasl_ssl_config() {
  local port="$1" plain_users="" pair
  [[ -n "${KAFKA_SSL_KEYSTORE:-}" && -f "$KAFKA_SSL_KEYSTORE" ]] \
    || { log "KAFKA_SASL_SSL_PORT needs KAFKA_SSL_KEYSTORE, a PKCS12 file with the broker's key and certificate"; exit 2; }
  IFS=',' read -ra pairs <<<"${KAFKA_SASL_PLAIN_USERS:-}"
  for pair in "${pairs[@]}"; do plain_users+=" user_${pair%%:*}=\"${pair#*:}\""; done
  cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_SSL://127.0.0.1:$port
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_SSL://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$KAFKA_SSL_KEYSTORE
listener.name.sasl_ssl.ssl.keystore.password=${KAFKA_SSL_KEYSTORE_PASSWORD:-}
listener.name.sasl_ssl.ssl.key.password=${KAFKA_SSL_KEYSTORE_PASSWORD:-}
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required$plain_users;
EOF
}

listeners_config() {
  if [[ -n "${KAFKA_SASL_SSL_PORT:-}" ]]; then sasl_ssl_config "$KAFKA_SASL_SSL_PORT"; return; fi
  cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
EOF
}

write_config() {
  mkdir -p "$CONF" "$DATA" "$LOGS"
  local listeners
  listeners="$(listeners_config)"
  cat >"$CONF/server-$PORT.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
num.partitions=3
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
transaction.max.timeout.ms=900000
EOF
  cat >"$CONF/log4j2.properties" <<'EOF'
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.append = false
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
EOF
}

java_cmd() {
  # shellcheck disable=SC2086
  java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} -XX:+UseG1GC -Djava.awt.headless=true \
    -Dkafka.logs.dir="$LOGS" -Dlog4j2.configurationFile="$CONF/log4j2.properties" \
    -cp "$LIB/*" "$@"
}

start() {
  if answers; then log "a broker already answers on 127.0.0.1:$PORT; reusing it"; return 0; fi
  fetch
  write_config
  if [[ ! -f "$DATA/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
    log "formatting KRaft storage in $DATA (cluster $cluster_id)"
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$CONF/server-$PORT.properties" >"$LOGS/format.out" 2>&1 \
      || { cat "$LOGS/format.out" >&2; exit 1; }
  fi
  log "starting broker on 127.0.0.1:$PORT (logs: $LOGS)"
  : >"$LOGS/server.out"
  rm -f "$LOGS/server.log"
  nohup bash -c "$(declare -f java_cmd); LIB='$LIB' LOGS='$LOGS' CONF='$CONF' \
    KAFKA_HEAP_OPTS='${KAFKA_HEAP_OPTS:-}' java_cmd kafka.Kafka '$CONF/server-$PORT.properties'" \
    >"$LOGS/server.out" 2>&1 &
  echo $! >"$PIDFILE"
  local waited=0
  until answers; do
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      log "the broker exited while starting; last lines of $LOGS/server.log:"
      tail -30 "$LOGS/server.log" >&2 || true
      exit 1
    fi
    if ((waited >= TIMEOUT)); then log "the broker did not answer within ${TIMEOUT}s"; exit 1; fi
    sleep 1
    waited=$((waited + 1))
  done
  log "broker ready on 127.0.0.1:$PORT after ${waited}s"
}

stop() {
  if [[ ! -f "$PIDFILE" ]]; then log "no broker started by this script on port $PORT"; return 0; fi
  local pid
  pid="$(cat "$PIDFILE")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping broker (pid $pid)"
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || pgrep -P "$pid" >/dev/null || break
      sleep 1
    done
    pkill -KILL -P "$pid" 2>/dev/null || true
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if answers; then echo "up on 127.0.0.1:$PORT"; else echo "down"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status   (port: KAFKA_PORT, default 9092)" >&2; exit 2 ;;
esac
