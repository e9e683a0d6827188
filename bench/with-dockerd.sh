#!/usr/bin/env bash
# Runs the Berth bench with a private dockerd (Debian's docker.io) as the peer, then stops
# that dockerd and its containerd and removes their directories.
#
#   bench/with-dockerd.sh [--dockerd-only] [bench options...]
#
#   --dockerd-only   measure only the private dockerd (no berthd), e.g. to record a baseline
#   bench options    passed to dist/bench/bench.js (--runs, --containers, --json, --berth-sock ...)
#
# Environment:
#   BENCH_DOCKERD_BRIDGE=1     give dockerd its default bridge network (default: --bridge=none)
#   BENCH_DOCKERD_STORAGE=drv  storage driver to try first (default overlay2, then vfs)
#
# Needs root. Talks only to local unix sockets. The dockerd is for the benchmark only.
set -euo pipefail

cd "$(dirname "$0")/.."

SOCK=/tmp/bench-dockerd.sock
DATA=/tmp/bench-dockerd
EXEC=/tmp/bench-dockerd-exec
PIDFILE=/tmp/bench-dockerd.pid
LOG=/tmp/bench-dockerd.log
CLI=/usr/local/bin/docker   # the real docker CLI 28; docker.io's older client goes to /usr/bin/docker

export PATH="/usr/local/bin:$PATH"

mode=compare
if [ "${1:-}" = "--dockerd-only" ]; then mode=dockerd-only; shift; fi

say() { echo "[with-dockerd] $*" >&2; }

if [ "$(id -u)" != 0 ]; then say "needs root (dockerd, mounts)"; exit 2; fi

# ---------------------------------------------------------------------------------------------
# Install docker.io if dockerd/containerd are missing, keeping the real CLI first in PATH.
cli_sum=""
if [ -x "$CLI" ]; then cli_sum=$(sha256sum "$CLI" | cut -d' ' -f1); fi
if ! command -v dockerd >/dev/null 2>&1 || ! command -v containerd >/dev/null 2>&1; then
  say "installing docker.io (dockerd, containerd) from apt"
  # Do not let the package start a system docker service.
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends docker.io >/tmp/bench-apt.log 2>&1; then
    apt-get update >>/tmp/bench-apt.log 2>&1 || true
    apt-get install -y --no-install-recommends docker.io >>/tmp/bench-apt.log 2>&1 || {
      [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
      say "apt-get install docker.io failed, see /tmp/bench-apt.log"; exit 1; }
  fi
  [ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d
fi
if [ -n "$cli_sum" ] && [ "$(sha256sum "$CLI" | cut -d' ' -f1)" != "$cli_sum" ]; then
  say "WARNING: $CLI changed during the install"
fi
if [ ! -x "$CLI" ]; then
  say "WARNING: $CLI missing; using $(command -v docker)"
  CLI=$(command -v docker)
fi
if [ "$(command -v docker)" != "$CLI" ]; then say "WARNING: 'docker' in PATH is $(command -v docker), not $CLI"; fi
for b in dockerd containerd containerd-shim-runc-v2 runc; do
  command -v "$b" >/dev/null 2>&1 || { say "$b not found"; exit 1; }
done

# ---------------------------------------------------------------------------------------------
# Stopping: dockerd, its containerd, shims, mounts, directories.

# pids whose command line contains $1 (never ourselves)
pids_with() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$$" ] && continue
    if { tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qF -- "$1"; then echo "$p"; fi
  done
}

wait_gone() { # pid seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [ -e "/proc/$1" ] || return 0
    grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

mounts_under() { # dir -> mount points at or below it, deepest first
  awk -v d="$1" '{ if ($5 == d || index($5, d "/") == 1) print length($5), $5 }' /proc/self/mountinfo |
    sort -rn | cut -d' ' -f2-
}

stop_all() {
  local pid p m
  if [ -S "$SOCK" ] && [ -x "$CLI" ]; then
    local ids
    ids=$(timeout 20 "$CLI" -H "unix://$SOCK" ps -aq 2>/dev/null || true)
    if [ -n "$ids" ]; then
      say "removing leftover containers"
      # shellcheck disable=SC2086
      timeout 60 "$CLI" -H "unix://$SOCK" rm -f $ids >/dev/null 2>&1 || true
    fi
  fi
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  if [ -n "$pid" ] && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF -- "$SOCK"; then
    say "stopping dockerd $pid"
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid" 20 || { say "dockerd $pid still alive: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; wait_gone "$pid" 5 || true; }
  fi
  # Its containerd (managed under $EXEC/containerd) and any shims addressing it.
  for p in $(pids_with "$EXEC/containerd"); do
    say "stopping $(cat /proc/$p/comm 2>/dev/null) $p"
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in $(pids_with "$EXEC/containerd"); do
    wait_gone "$p" 10 || kill -KILL "$p" 2>/dev/null || true
  done
  for d in "$EXEC" "$DATA"; do
    for m in $(mounts_under "$d"); do umount -l "$m" 2>/dev/null || say "umount -l $m failed"; done
  done
  if [ -n "$(mounts_under "$EXEC")$(mounts_under "$DATA")" ]; then
    say "mounts remain under $DATA or $EXEC: leaving them in place"
  else
    rm -rf "$DATA" "$EXEC"
  fi
  rm -f "$SOCK" "$PIDFILE"
  if [ -n "${made_docker0:-}" ] && ip link show docker0 >/dev/null 2>&1; then
    ip link delete docker0 2>/dev/null && made_docker0="" || say "could not delete docker0"
  fi
}

# ---------------------------------------------------------------------------------------------
# Starting

start_dockerd() { # storage driver
  local args=(-H "unix://$SOCK" --data-root "$DATA" --exec-root "$EXEC" --pidfile "$PIDFILE"
    --iptables=false --ip-masq=false --storage-driver "$1")
  if [ "${BENCH_DOCKERD_BRIDGE:-0}" != 1 ]; then
    args+=(--bridge=none)
  elif ! ip link show docker0 >/dev/null 2>&1; then
    made_docker0=1 # dockerd leaves its bridge behind: delete it at the end
  fi
  mkdir -p "$DATA" "$EXEC"
  say "dockerd ${args[*]}"
  dockerd "${args[@]}" >"$LOG" 2>&1 </dev/null &
  local child=$! i
  for ((i = 0; i < 600; i++)); do
    if ! kill -0 "$child" 2>/dev/null; then say "dockerd exited; tail of $LOG:"; tail -5 "$LOG" >&2; return 1; fi
    if [ -S "$SOCK" ] && timeout 5 "$CLI" -H "unix://$SOCK" version >/dev/null 2>&1; then
      say "dockerd is up (pid $(cat "$PIDFILE" 2>/dev/null || echo "$child"), storage $1)"
      return 0
    fi
    sleep 0.1
  done
  say "dockerd did not answer within 60 s; tail of $LOG:"; tail -5 "$LOG" >&2
  return 1
}

trap 'stop_all' EXIT
trap 'exit 130' INT TERM

stop_all # anything left by an earlier run
started=""
for drv in "${BENCH_DOCKERD_STORAGE:-overlay2}" vfs; do
  if start_dockerd "$drv"; then started=1; break; fi
  stop_all
done
[ -n "$started" ] || { say "could not start dockerd"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Build and run the bench.

if ! npm run build >/tmp/bench-build.log 2>&1; then
  if [ -f dist/bench/bench.js ] && [ dist/bench/bench.js -nt bench/bench.ts ]; then
    say "WARNING: 'npm run build' reported errors (see /tmp/bench-build.log); dist/bench/bench.js was emitted, going on"
  else
    say "'npm run build' failed, see /tmp/bench-build.log"; exit 1
  fi
fi

bench_args=(--peer "unix://$SOCK" --peer-pidfile "$PIDFILE" --peer-name dockerd --docker "$CLI")
if [ "$mode" = dockerd-only ]; then bench_args+=(--no-berth); fi
rc=0
node dist/bench/bench.js "${bench_args[@]}" "$@" || rc=$?
exit "$rc"
