#!/bin/sh
# Entrypoint of localhost/im-redis. Ports come from the environment so that
# several instances can share the host network: REDIS_PORT (6379), REDIS_BIND
# (127.0.0.1). Extra arguments are passed to redis-server.
set -eu
# No persistence: e2e data is disposable, and fsync on 2 cores slows tests.
exec redis-server \
  --port "${REDIS_PORT:-6379}" \
  --bind "${REDIS_BIND:-127.0.0.1}" \
  --protected-mode no \
  --save '' \
  --appendonly no \
  --daemonize no \
  "$@"
