#!/usr/bin/env bash
# Prepares a machine without a Docker engine to run the e2e suite on Podman:
# installs Podman, builds the service images from Debian packages (and Kafka's
# jars from Maven Central), and serves Podman's Docker-compatible API for
# testcontainers. Installs Chromium for the demo page's tests on any machine. Idempotent; a warm run only checks and prints the exports.
# Run as root. Where a real Docker engine answers, it only says so: the suite
# then uses the official images.
#
# Environment: IMGW_KAFKA_VERSION overrides images.env; IMGW_CACHE_DIR
# (/var/cache/im-gateway-fleet) holds build caches; IMGW_PODMAN_SOCK
# (/run/imgw-podman.sock) is the API socket, its service's pid is written
# beside it (/run/imgw-podman.pid); IMGW_FORCE_PODMAN=1 ignores a Docker engine.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kafka_override="${IMGW_KAFKA_VERSION:-}"
# shellcheck source=SCRIPTDIR/images.env
source "$here/images.env"
kafka_version="${kafka_override:-$IMGW_KAFKA_VERSION}"
suite="$IMGW_DEBIAN_SUITE"
rev="$IMGW_IMAGE_REV"
cache="${IMGW_CACHE_DIR:-/var/cache/im-gateway-fleet}"
sock="${IMGW_PODMAN_SOCK:-/run/imgw-podman.sock}"
pidfile="${sock%.sock}.pid"

redis_image="localhost/im-redis:$suite-r$rev"
etcd_image="localhost/im-etcd:$suite-r$rev"
jre_image="localhost/im-jre:$suite-r$rev"
kafka_image="localhost/im-kafka:$kafka_version-r$rev"

log() { printf '[setup] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $EUID -eq 0 ]] || die "run as root"

# A real Docker engine (not Podman behind a Docker socket) needs nothing here.
docker_engine_answers() {
  command -v docker >/dev/null || return 1
  local server
  server="$(timeout 5 docker version --format '{{json .Server}}' 2>/dev/null)" || return 1
  [[ -n "$server" && "$server" != null && "$server" != *Podman* ]]
}

# Installs those of the given Debian packages that are missing; apt-get
# options (starting with -) pass through.
install_missing() {
  local missing=() options=() p
  for p in "$@"; do
    if [[ $p == -* ]]; then options+=("$p"); continue; fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} -eq 0 ]] && return
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Update the package lists only when they cannot serve the install.
  if ! apt-get -q install -y "${options[@]}" "${missing[@]}" >&2; then
    apt-get -q update >&2
    apt-get -q install -y "${options[@]}" "${missing[@]}" >&2
  fi
}

install_packages() {
  local wanted=(podman runc mmdebstrap curl)
  command -v mvn >/dev/null || wanted+=(maven)
  install_missing "${wanted[@]}"
}

# promtool checks and unit-tests the chart's alerting rules (charts/test);
# Debian ships it in the prometheus package (its recommends are not needed).
install_promtool() {
  command -v promtool >/dev/null || install_missing --no-install-recommends prometheus
}

# crun fails here ("cgroups in hybrid mode not supported") and the default
# rlimits exceed the machine's hard limits, so pin runc and lower the limits.
configure_podman() {
  local conf=/etc/containers/containers.conf want
  want='[containers]
default_ulimits = ["nofile=8192:8192", "nproc=8192:8192"]

[engine]
runtime = "runc"'
  if [[ -f $conf && "$(cat "$conf")" == "$want" ]]; then return; fi
  [[ -f $conf ]] && cp "$conf" "$conf.bak.$(date +%s)"
  mkdir -p /etc/containers
  printf '%s\n' "$want" > "$conf"
  log "wrote $conf"
}

# shellcheck source=SCRIPTDIR/debian.sh
source "$here/debian.sh"

# mmdebstrap a minimal Debian with the given packages and import it.
# Usage: build_debian_image IMAGE ENTRYPOINT_FILE|- PACKAGES...
build_debian_image() {
  local image="$1" entrypoint="$2"; shift 2
  local tar="$cache/rootfs-$$.tar" includes sources hooks=() changes=()
  trap 'rm -f "$cache/rootfs-$$.tar"' EXIT
  includes="$(IFS=,; echo "$*")"
  sources="$(debian_sources)"
  if [[ $entrypoint != - ]]; then
    # shellcheck disable=SC2016 # mmdebstrap sets $1 to the chroot.
    hooks+=(--customize-hook="upload $entrypoint /usr/local/bin/imgw-entrypoint"
            --customize-hook='chmod 755 "$1/usr/local/bin/imgw-entrypoint"')
    changes+=(--change 'ENTRYPOINT ["/usr/local/bin/imgw-entrypoint"]')
  fi
  log "building $image from Debian $suite ($*)"
  mmdebstrap --quiet --mode=root --variant=minbase --include="$includes" \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    "${hooks[@]}" "$suite" "$tar" ${sources:+"$sources"} >&2
  podman import --quiet "${changes[@]}" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "$tar" "$image" >/dev/null
  rm -f "$tar"
}

# Runs Maven on the pom in DIR with a local repository in the cache; the
# output goes to a log that is shown only when Maven fails.
maven() {
  local dir="$1"; shift
  if ! mvn -B -f "$dir/pom.xml" -Dmaven.repo.local="$cache/m2" "$@" >"$dir/maven.log" 2>&1; then
    tail -n 40 "$dir/maven.log" >&2
    die "Maven failed; full log in $dir/maven.log"
  fi
}

# Kafka's broker jars and their transitive dependencies, with slf4j-simple as
# the log backend (the Maven artifacts ship none; logs go to stderr).
fetch_kafka_libs() {
  local dir="$1" slf4j_version
  if [[ -f $dir/.complete ]]; then return; fi
  rm -rf "$dir" && mkdir -p "$dir"
  cat > "$dir/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.imgw</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>$kafka_version</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$kafka_version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-server</artifactId><version>$kafka_version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-metadata</artifactId><version>$kafka_version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-raft</artifactId><version>$kafka_version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-storage</artifactId><version>$kafka_version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-group-coordinator</artifactId><version>$kafka_version</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-transaction-coordinator</artifactId><version>$kafka_version</version></dependency>
  </dependencies>
</project>
EOF
  log "fetching Kafka $kafka_version jars with Maven"
  maven "$dir" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/libs"
  # Bind slf4j-simple to the slf4j-api version Kafka resolved to.
  slf4j_version="$(find "$dir/libs" -name 'slf4j-api-*.jar' -printf '%f\n' | sed 's/^slf4j-api-\(.*\)\.jar$/\1/')"
  [[ -n $slf4j_version ]] || die "no slf4j-api among Kafka's dependencies"
  maven "$dir" dependency:copy -Dartifact="org.slf4j:slf4j-simple:$slf4j_version" -DoutputDirectory="$dir/libs"
  touch "$dir/.complete"
}

build_kafka_image() {
  local dir="$cache/kafka-$kafka_version" ctx="$cache/kafka-$kafka_version/context"
  image_exists "$jre_image" || build_debian_image "$jre_image" - openjdk-17-jre-headless
  fetch_kafka_libs "$dir"
  rm -rf "$ctx" && mkdir -p "$ctx"
  cp -al "$dir/libs" "$ctx/libs"
  install -m 755 "$here/images/kafka-entrypoint.sh" "$ctx/imgw-entrypoint"
  cat > "$ctx/Containerfile" <<EOF
FROM $jre_image
COPY libs /opt/kafka/libs
COPY imgw-entrypoint /usr/local/bin/imgw-entrypoint
LABEL org.apache.kafka.version="$kafka_version"
ENTRYPOINT ["/usr/local/bin/imgw-entrypoint"]
EOF
  log "building $kafka_image"
  podman build --quiet --pull=never --tag "$kafka_image" "$ctx" >/dev/null
  rm -rf "$ctx"
}

api_answers() { curl -sf --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }

start_api_service() {
  api_answers && return
  rm -f "$sock"
  mkdir -p "$cache"
  log "starting Podman API on unix://$sock (pid in $pidfile)"
  # setsid: the service must outlive this script and the shell that ran it.
  # A script's background job leads no process group, so setsid execs in
  # place and $! is the service's own pid.
  # 9>&-: the service must not hold the setup lock.
  setsid podman system service --time=0 "unix://$sock" \
    >"$cache/podman-service.log" 2>&1 </dev/null 9>&- &
  echo $! > "$pidfile"
  disown
  for _ in $(seq 1 50); do
    api_answers && return
    sleep 0.2
  done
  die "Podman API did not answer on $sock; see $cache/podman-service.log"
}

main() {
  # Concurrent runs would build the same images twice.
  exec 9>/run/imgw-setup.lock
  flock 9
  # The demo page's tests (demo/test) drive this Chromium; no browser is downloaded.
  install_missing chromium
  install_promtool
  if [[ -z ${IMGW_FORCE_PODMAN:-} ]] && docker_engine_answers; then
    log "a Docker engine answers: nothing to build, the suite uses official images"
    return
  fi
  install_packages
  configure_podman
  mkdir -p "$cache"
  image_exists "$redis_image" || build_debian_image "$redis_image" "$here/images/redis-entrypoint.sh" redis-server
  image_exists "$etcd_image" || build_debian_image "$etcd_image" "$here/images/etcd-entrypoint.sh" etcd-server
  image_exists "$kafka_image" || build_kafka_image
  start_api_service
  log "images: $redis_image $etcd_image $kafka_image"
  cat <<EOF
export DOCKER_HOST=unix://$sock
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
EOF
}

main "$@"
