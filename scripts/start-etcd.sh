#!/usr/bin/env bash
# Starts a single-member etcd v3 (Debian's /usr/bin/etcd) for the storage tests:
# clients on 127.0.0.1:2379, peers on 127.0.0.1:2380, data under /tmp, in the background.
#
# Idempotent: if something already answers on the client port, it does nothing. Waits until
# the member reports healthy (up to ~20 s); otherwise exits non-zero with the end of its log.
#
# Then run the etcd tests with:
#   OXIDEX_TEST_ETCD_ENDPOINTS=127.0.0.1:2379 cargo test -p oxidex-storage --test storage etcd
#
# Environment (all optional):
#   ETCD_BIN       etcd binary                  (default /usr/bin/etcd)
#   ETCD_DATA_DIR  data directory               (default /tmp/oxidex-etcd/data)
#   ETCD_LOG       log file                     (default /tmp/oxidex-etcd/etcd.log)
#   ETCD_WAIT_SECS how long to wait for health  (default 20)
set -euo pipefail

ETCD_BIN=${ETCD_BIN:-/usr/bin/etcd}
BASE_DIR=/tmp/oxidex-etcd
ETCD_DATA_DIR=${ETCD_DATA_DIR:-$BASE_DIR/data}
ETCD_LOG=${ETCD_LOG:-$BASE_DIR/etcd.log}
ETCD_WAIT_SECS=${ETCD_WAIT_SECS:-20}
CLIENT_URL=http://127.0.0.1:2379
PEER_URL=http://127.0.0.1:2380

# `true` once the member at CLIENT_URL reports itself healthy.
healthy() {
  if command -v etcdctl >/dev/null 2>&1; then
    ETCDCTL_API=3 etcdctl --endpoints="$CLIENT_URL" --dial-timeout=1s --command-timeout=2s \
      endpoint health >/dev/null 2>&1 && return 0
  fi
  curl -fsS --max-time 2 "$CLIENT_URL/health" 2>/dev/null | grep -q '"health":[[:space:]]*"true"'
}

# `true` if anything accepts TCP connections on the client port.
port_in_use() {
  (exec 3<>/dev/tcp/127.0.0.1/2379) >/dev/null 2>&1
}

if healthy; then
  echo "etcd: already running and healthy at $CLIENT_URL"
  exit 0
fi
if port_in_use; then
  echo "etcd: something already listens on 127.0.0.1:2379; leaving it alone"
  # Give an etcd that is still starting a moment to become healthy.
fi

if ! port_in_use; then
  if [ ! -x "$ETCD_BIN" ]; then
    echo "etcd: $ETCD_BIN not found; install Debian's etcd-server (apt-get install etcd-server)" >&2
    exit 1
  fi
  mkdir -p "$ETCD_DATA_DIR" "$(dirname "$ETCD_LOG")"
  chmod 700 "$ETCD_DATA_DIR"
  echo "etcd: starting $ETCD_BIN (data $ETCD_DATA_DIR, log $ETCD_LOG)"
  # etcd 3.4 refuses to start on arm64 unless told the architecture is fine.
  if [ "$(uname -m)" = aarch64 ]; then export ETCD_UNSUPPORTED_ARCH=arm64; fi
  # Compaction keeps an hour of history (etcd keeps every revision otherwise; see
  # docs/storage-etcd.md).
  nohup "$ETCD_BIN" \
    --name oxidex-test \
    --data-dir "$ETCD_DATA_DIR" \
    --listen-client-urls "$CLIENT_URL" \
    --advertise-client-urls "$CLIENT_URL" \
    --listen-peer-urls "$PEER_URL" \
    --initial-advertise-peer-urls "$PEER_URL" \
    --initial-cluster "oxidex-test=$PEER_URL" \
    --initial-cluster-state new \
    --auto-compaction-mode periodic \
    --auto-compaction-retention 1h \
    --logger zap \
    >>"$ETCD_LOG" 2>&1 </dev/null &
  echo $! >"$BASE_DIR/etcd.pid"
  disown || true
fi

for _ in $(seq 1 $((ETCD_WAIT_SECS * 4))); do
  if healthy; then
    echo "etcd: healthy at $CLIENT_URL"
    exit 0
  fi
  sleep 0.25
done

echo "etcd: not healthy at $CLIENT_URL after ${ETCD_WAIT_SECS} s" >&2
if [ -f "$ETCD_LOG" ]; then
  echo "---- last lines of $ETCD_LOG ----" >&2
  tail -n 30 "$ETCD_LOG" >&2
fi
exit 1
