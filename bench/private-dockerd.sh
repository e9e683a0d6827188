# Sourced by the *-with-dockerd.sh scripts: a private dockerd for the benches only, on
# $SOCK with $DATA, $EXEC, $PIDFILE and $LOG (the caller sets them, and `say`), that
# `start_private_dockerd` starts and `stop_all` stops (with its containerd), unmounting and
# removing its directories. Only a dockerd whose command line names $SOCK is signalled.
CLI=${CLI:-/usr/local/bin/docker}

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

start_private_dockerd() {
  [ "$(id -u)" = 0 ] || { say "needs root"; exit 2; }
  command -v dockerd >/dev/null || { say "dockerd missing: run bench/with-dockerd.sh once (it installs docker.io)"; exit 1; }
  trap stop_all EXIT
  trap 'exit 130' INT TERM
  stop_all
  mkdir -p "$DATA" "$EXEC"
  # 127.0.0.0/8 registries are insecure (plain HTTP) for dockerd by default: no --insecure-registry.
  dockerd -H "unix://$SOCK" --data-root "$DATA" --exec-root "$EXEC" --pidfile "$PIDFILE" \
    ${DOCKERD_NET_ARGS:---iptables=false --ip-masq=false --bridge=none} --storage-driver overlay2 >"$LOG" 2>&1 </dev/null &
  for _ in $(seq 600); do
    if [ -S "$SOCK" ] && timeout 5 "$CLI" -H "unix://$SOCK" version >/dev/null 2>&1; then break; fi
    sleep 0.1
  done
  "$CLI" -H "unix://$SOCK" version --format 'peer: dockerd {{.Server.Version}}' >&2 || { say "dockerd did not start; see $LOG"; exit 1; }
}
