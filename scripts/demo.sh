#!/usr/bin/env bash
# One command from a fresh Debian 12 machine (as root) to a running container:
# installs what Berth needs, builds it, starts berthd with its defaults, makes
# busybox:latest from the host's busybox-static, and runs a container in it.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
need=()
for p in runc conmon busybox-static tini; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
# npm ci wipes node_modules first: only when it is missing or older than the lockfile, so a
# second run (or a daemon already running from this tree) is not disturbed.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build

sock=/run/berth/berth.sock
if ! ./bin/berth -H "unix://$sock" version >/dev/null 2>&1; then
  echo "starting berthd (log: /var/log/berthd.log)"
  nohup ./bin/berthd -H "unix://$sock" --data-root /var/lib/berth --exec-root /run/berth --pidfile /run/berth.pid \
    >>/var/log/berthd.log 2>&1 &
  for _ in $(seq 100); do [ -S "$sock" ] && ./bin/berth -H "unix://$sock" version >/dev/null 2>&1 && break; sleep 0.1; done
  if ! ./bin/berth -H "unix://$sock" version >/dev/null 2>&1; then
    echo "berthd did not start; the end of /var/log/berthd.log:" >&2
    tail -n 20 /var/log/berthd.log >&2
    exit 1
  fi
fi
berth() { ./bin/berth -H "unix://$sock" "$@"; }

if ! berth image inspect busybox:latest >/dev/null 2>&1; then
  ./scripts/make-busybox-rootfs.sh | berth import - busybox:latest
fi
berth images
berth run --rm --hostname demo busybox sh -c \
  'echo "hello from $(hostname): I am PID $$ and see $(ls /proc | grep -c "^[0-9]") process(es); network: $(ls /sys/class/net)"'
echo "berthd is running on unix://$sock; try: docker -H unix://$sock ps -a"
