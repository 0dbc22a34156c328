#!/bin/sh
# Entrypoint of localhost/im-etcd: a single-member etcd on loopback.
# ETCD_CLIENT_PORT (2379) and ETCD_PEER_PORT (2380) pick the ports so that
# several instances can share the host network. Any ETCD_* flag variable that
# etcd itself understands (for example ETCD_LISTEN_CLIENT_URLS) overrides these
# defaults, which keeps the image interchangeable with the upstream one.
set -eu
host="${ETCD_HOST:-127.0.0.1}"
client="http://${host}:${ETCD_CLIENT_PORT:-2379}"
peer="http://${host}:${ETCD_PEER_PORT:-2380}"
# etcd warns about ETCD_* variables that are not its flags.
unset ETCD_HOST ETCD_CLIENT_PORT ETCD_PEER_PORT

export ETCD_NAME="${ETCD_NAME:-imgw}"
export ETCD_DATA_DIR="${ETCD_DATA_DIR:-/var/lib/imgw-etcd}"
export ETCD_LISTEN_CLIENT_URLS="${ETCD_LISTEN_CLIENT_URLS:-$client}"
export ETCD_ADVERTISE_CLIENT_URLS="${ETCD_ADVERTISE_CLIENT_URLS:-$client}"
export ETCD_LISTEN_PEER_URLS="${ETCD_LISTEN_PEER_URLS:-$peer}"
export ETCD_INITIAL_ADVERTISE_PEER_URLS="${ETCD_INITIAL_ADVERTISE_PEER_URLS:-$peer}"
export ETCD_INITIAL_CLUSTER="${ETCD_INITIAL_CLUSTER:-${ETCD_NAME}=${peer}}"
exec etcd "$@"
