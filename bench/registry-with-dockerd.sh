#!/usr/bin/env bash
# Runs the registry push/pull bench (dist/bench/registry.js) with a private dockerd (Debian's
# docker.io, installed by bench/with-dockerd.sh if missing) as the peer, then stops that dockerd
# and its containerd and removes their directories. The bench starts its own docker-registry
# processes on 127.0.0.1 (one per daemon and run, empty storage) and stops them. Needs root.
#
#   bench/registry-with-dockerd.sh [registry.js options: --size-mb 200 --layers 5 --runs 3 --json]
#   bench/registry-with-dockerd.sh --dockerd-only [...]   dockerd alone (no berthd)
set -euo pipefail
cd "$(dirname "$0")/.."
SOCK=/tmp/bench-reg-dockerd.sock
DATA=/tmp/bench-reg-dockerd
EXEC=/tmp/bench-reg-dockerd-exec
PIDFILE=/tmp/bench-reg-dockerd.pid
LOG=/tmp/bench-reg-dockerd.log
CLI=/usr/local/bin/docker
say() { echo "[registry-with-dockerd] $*" >&2; }
[ "$(id -u)" = 0 ] || { say "needs root"; exit 2; }
command -v dockerd >/dev/null || { say "dockerd missing: run bench/with-dockerd.sh once (it installs docker.io)"; exit 1; }
[ -x /usr/bin/docker-registry ] || { say "/usr/bin/docker-registry missing: apt-get install docker-registry"; exit 1; }
extra=()
if [ "${1:-}" = --dockerd-only ]; then extra=(--no-berth); shift; fi

stop_all() {
  local pid p m
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -n "$pid" ] && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$SOCK"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$$" ] && continue
    if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "$EXEC/containerd"; then kill -TERM "$p" 2>/dev/null || true; fi
  done
  sleep 0.5
  for m in $(awk -v d="$DATA" -v e="$EXEC" '{ if (index($5, d) == 1 || index($5, e) == 1) print length($5), $5 }' /proc/self/mountinfo | sort -rn | cut -d' ' -f2-); do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$DATA" "$EXEC" "$SOCK" "$PIDFILE"
}
trap stop_all EXIT
trap 'exit 130' INT TERM
stop_all
mkdir -p "$DATA" "$EXEC"
# 127.0.0.0/8 registries are insecure (plain HTTP) for dockerd by default: no --insecure-registry.
dockerd -H "unix://$SOCK" --data-root "$DATA" --exec-root "$EXEC" --pidfile "$PIDFILE" \
  --iptables=false --ip-masq=false --bridge=none --storage-driver overlay2 >"$LOG" 2>&1 </dev/null &
for _ in $(seq 600); do
  if [ -S "$SOCK" ] && timeout 5 "$CLI" -H "unix://$SOCK" version >/dev/null 2>&1; then break; fi
  sleep 0.1
done
"$CLI" -H "unix://$SOCK" version --format 'peer: dockerd {{.Server.Version}}' >&2 || { say "dockerd did not start; see $LOG"; exit 1; }
npm run build >/tmp/bench-reg-build.log 2>&1 || [ -f dist/bench/registry.js ] || { say "build failed, see /tmp/bench-reg-build.log"; exit 1; }
node dist/bench/registry.js --peer "unix://$SOCK" --peer-name dockerd --docker "$CLI" "${extra[@]}" "$@"
