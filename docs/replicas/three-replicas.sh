#!/usr/bin/env bash
# Three oxidex processes, one issuer URL, one PostgreSQL database: what runs behind a load
# balancer, on one machine. Shows that they publish the same keys, that a rotation requested
# once yields one new key everywhere, and leaves them running until Ctrl-C.
#
#   docs/replicas/three-replicas.sh                 # PostgreSQL at postgres://postgres@127.0.0.1:5432
#   PGURL=postgres://me:pw@db:5432/postgres docs/replicas/three-replicas.sh
#
# Needs: psql, curl, and oxidex (built here with cargo unless OXIDEX points at a binary).
set -euo pipefail

PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432/postgres}
DB=${DB:-oxidex_replicas_demo}
PORTS=(5556 5557 5558)
ISSUER="http://127.0.0.1:${PORTS[0]}/dex"
here=$(cd "$(dirname "$0")/../.." && pwd)
OXIDEX=${OXIDEX:-}
if [[ -z "$OXIDEX" ]]; then
  cargo build -q -p oxidex --manifest-path "$here/Cargo.toml"
  OXIDEX="$here/target/debug/oxidex"
fi

# The database, once.
if ! psql "$PGURL" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
  psql "$PGURL" -qc "CREATE DATABASE $DB"
fi
host=$(sed -E 's#^[a-z]+://([^@/]*@)?([^:/]+).*#\2#' <<<"$PGURL")
port=$(sed -nE 's#^[a-z]+://([^@/]*@)?[^:/]+:([0-9]+).*#\2#p' <<<"$PGURL"); port=${port:-5432}
user=$(sed -nE 's#^[a-z]+://([^:@/]+)(:[^@]*)?@.*#\1#p' <<<"$PGURL"); user=${user:-postgres}
password=$(sed -nE 's#^[a-z]+://[^:@/]+:([^@]*)@.*#\1#p' <<<"$PGURL")

work=$(mktemp -d)
cat >"$work/config.yaml" <<YAML
issuer: $ISSUER
storage:
  type: postgres
  config:
    host: $host
    port: $port
    user: $user
    password: "$password"
    database: $DB
    ssl:
      mode: disable        # loopback only; use verify-full across a network
web:
  http: 127.0.0.1:${PORTS[0]}
staticClients:
- id: example-app
  name: Example App
  secret: ZXhhbXBsZS1hcHAtc2VjcmV0
  redirectURIs: [http://127.0.0.1:5555/callback]
enablePasswordDB: true
staticPasswords:
- email: admin@example.com
  hash: "\$2a\$10\$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W"   # "password"
  username: admin
  userID: 08a8684b-db88-4b73-90a9-3cd1661f5466
YAML

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM
for i in 0 1 2; do
  "$OXIDEX" serve "$work/config.yaml" --web-http-addr "127.0.0.1:${PORTS[$i]}" \
    --telemetry-addr "127.0.0.1:$((PORTS[i] + 100))" 2>"$work/replica-$i.log" &
  pids+=($!)
done
for i in 0 1 2; do
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$((PORTS[i] + 100))/healthz/ready" >/dev/null && break
    sleep 0.1
  done
done

kids() { curl -fs "http://127.0.0.1:$1/dex/keys" | grep -o '"kid":"[^"]*"' | sort | tr '\n' ' '; }
echo "keys before rotation:"
for p in "${PORTS[@]}"; do echo "  :$p  $(kids "$p")"; done

"$OXIDEX" keys rotate "$work/config.yaml"
kill -USR1 "${pids[@]}"
sleep 2
echo "keys after one rotation request (one new kid, the same on all three):"
for p in "${PORTS[@]}"; do echo "  :$p  $(kids "$p")"; done

cat <<TXT

Three replicas are serving issuer $ISSUER on ports ${PORTS[*]}.
Start a login on one and finish it on another, e.g. open
  http://127.0.0.1:${PORTS[1]}/dex/auth?client_id=example-app&redirect_uri=http://127.0.0.1:5555/callback&response_type=code&scope=openid%20email&state=x
(admin@example.com / password), and redeem the code at another port:
  curl -u example-app:ZXhhbXBsZS1hcHAtc2VjcmV0 -d grant_type=authorization_code \\
       -d redirect_uri=http://127.0.0.1:5555/callback -d code=CODE http://127.0.0.1:${PORTS[2]}/dex/token
Logs: $work/replica-*.log. Ctrl-C stops all three.
TXT
wait
