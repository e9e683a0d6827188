#!/usr/bin/env bash
# Runs the image save/load bench (dist/bench/images.js) with a private dockerd (Debian's docker.io,
# installed by bench/with-dockerd.sh if missing) as the peer, then stops that dockerd and its
# containerd and removes their directories. For the benchmark only; needs root.
#
#   bench/images-with-dockerd.sh [images.js options: --size-mb 200 --layers 5 --runs 3]
#   bench/images-with-dockerd.sh --roundtrip   instead: a berthd of its own and this dockerd load each
#                                              other's `docker save` output (a compatibility check)
set -euo pipefail
cd "$(dirname "$0")/.."
SOCK=/tmp/bench-img-dockerd.sock
DATA=/tmp/bench-img-dockerd
EXEC=/tmp/bench-img-dockerd-exec
PIDFILE=/tmp/bench-img-dockerd.pid
LOG=/tmp/bench-img-dockerd.log
CLI=/usr/local/bin/docker
say() { echo "[images-with-dockerd] $*" >&2; }

. bench/private-dockerd.sh
start_private_dockerd
[ -n "${BENCH_NO_BUILD:-}" ] || npm run build >/tmp/bench-img-build.log 2>&1 || [ -f dist/bench/images.js ] || { say "build failed, see /tmp/bench-img-build.log"; exit 1; }
if [ "${1:-}" != --roundtrip ]; then
  node dist/bench/images.js --peer "unix://$SOCK" --peer-name dockerd --docker "$CLI" "$@"
  exit
fi

# --roundtrip: a 3-layer image built in dockerd (import + two commits), saved by dockerd and
# loaded by berthd, run there, committed, saved by berthd and loaded back into dockerd.
B=$(mktemp -d /tmp/bench-rt-XXXXXX)
trap 'kill "$(cat "$B/pid" 2>/dev/null)" 2>/dev/null; sleep 1; stop_all; rm -rf "$B"' EXIT
./bin/berthd -H "unix://$B/s.sock" --data-root "$B/data" --exec-root "$B/exec" --pidfile "$B/pid" >"$B/log" 2>&1 &
for _ in $(seq 100); do [ -S "$B/s.sock" ] && break; sleep 0.1; done
dk() { "$CLI" -H "unix://$SOCK" "$@"; }
bt() { "$CLI" -H "unix://$B/s.sock" "$@"; }
./scripts/make-busybox-rootfs.sh | dk import - rt/base:1 >/dev/null
dk run --name rt1 rt/base:1 sh -c 'mkdir -p /srv && echo one > /srv/one && rm /etc/group' && dk commit -c 'ENV STAGE=two' rt1 rt/app:2 >/dev/null
dk run --name rt2 rt/app:2 sh -c 'echo two > /srv/two' && dk commit -m second rt2 rt/app:3 >/dev/null
dk save -o "$B/from-dockerd.tar" rt/app:3 rt/base:1
bt load -i "$B/from-dockerd.tar"
echo "berthd runs dockerd's image: $(bt run --rm rt/app:3 sh -c 'cat /srv/one /srv/two; echo $STAGE; test -e /etc/group || echo group-deleted' | tr '\n' ' ')"
bt history --format '{{.CreatedBy}} | {{.Comment}}' rt/app:3
bt run --name rt3 rt/app:3 sh -c 'rm /srv/one; echo three > /srv/three' && bt commit rt3 rt/app:4 >/dev/null
bt save -o "$B/from-berthd.tar" rt/app:4
dk rmi -f rt/app:3 rt/app:2 rt/base:1 >/dev/null
dk load -i "$B/from-berthd.tar"
echo "dockerd runs berthd's image: $(dk run --rm rt/app:4 sh -c 'ls /srv; echo $STAGE' | tr '\n' ' ')"
