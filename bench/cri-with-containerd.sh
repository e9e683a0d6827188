#!/usr/bin/env bash
# critest's benchmark specs against a private containerd (the critest kit's reference runtime,
# Debian's containerd 1.6) and then against a private berthd, in one run, with the kit's
# benchmark-params.yaml for both; prints each operation's median side by side. Needs root, the
# critest kit (CRITEST_TOOLS, default ../shared/tools/critest) and a built critest
# (CRITEST, default /tmp/berth-critest/bin/critest; `npm run test:cri` builds it there).
#
#   bench/cri-with-containerd.sh
#
# The containerd side is the kit's `rig.sh up` (its own root, socket, bridge crit0 and CNI
# config, registry mirrors to 127.0.0.1:5055); `rig.sh down` removes it before berthd starts, so
# the two never run at the same time. The berthd side is `scripts/test-cri.sh` with BENCHMARK=1.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/critest-kit.sh
CRITEST=${CRITEST:-/tmp/berth-critest/bin/critest}
CRICTL=$(dirname "$CRITEST")/crictl
RIG=${RIG:-/tmp/cri}
OUT=$(mktemp -d /tmp/cri-bench.XXXXXX)
say() { echo "[cri-with-containerd] $*" >&2; }
[ "$(id -u)" = 0 ] || { say "needs root"; exit 2; }
[ -x "$CRITEST" ] || { say "no critest at $CRITEST: run npm run test:cri once, or set CRITEST"; exit 2; }
command -v containerd >/dev/null || { say "containerd missing: apt-get install docker.io (it brings containerd)"; exit 2; }
[ -f dist/src/bin/berthd.js ] || { say "build first (npm run build)"; exit 2; }

export RIG CRICTL
trap '"$TOOLS/rig.sh" down >/dev/null 2>&1' EXIT
"$TOOLS/rig.sh" registry || exit 1
if ! curl -fsS "http://127.0.0.1:5055/v2/pause/tags/list" 2>/dev/null | grep -q '3.6'; then
  WORK=/tmp/berth-critest/images "$TOOLS/make-images.sh" 127.0.0.1:5055 || exit 1
fi
"$TOOLS/rig.sh" up || exit 1
say "containerd $(containerd --version | awk '{print $3}')"
CRITEST="$CRITEST" CRICTL="$CRICTL" BENCHMARK=1 REPORT_DIR="$OUT/containerd" "$TOOLS/run.sh" "unix://$RIG/containerd.sock" > "$OUT/containerd.txt" 2>&1
"$TOOLS/rig.sh" down >/dev/null 2>&1
say "berthd"
CRITEST="$CRITEST" BENCHMARK=1 scripts/test-cri.sh > "$OUT/berthd.txt" 2>&1

# "    ContainerCreate  median   12.3 ms ..." lines from each run, joined on the operation name.
medians() { awk '/median/ { for (i = 1; i <= NF; i++) if ($i == "median") { print $1, $(i+1) } }' "$1"; }
echo "| operation (critest -benchmark median) | berthd ms | containerd ms | berthd / containerd |"
echo "| --- | --- | --- | --- |"
join <(medians "$OUT/berthd.txt" | sort -k1,1) <(medians "$OUT/containerd.txt" | sort -k1,1) |
  awk '{ printf "| %s | %.1f | %.1f | %.2f |\n", $1, $2, $3, ($3 > 0 ? $2 / $3 : 0) }'
# critest's "create PodSandbox and container" spec: one pod and one container from nothing.
podctr() { awk -F'|' '/create PodSandbox and container/ { gsub(/ |ms/, "", $4); print $4 }' "$1"; }
b=$(podctr "$OUT/berthd.txt") c=$(podctr "$OUT/containerd.txt")
[ -n "$b" ] && [ -n "$c" ] && awk -v b="$b" -v c="$c" 'BEGIN { printf "| pod and container from nothing | %.1f | %.1f | %.2f |\n", b, c, b / c }'
grep -h 'critest exit code' "$OUT/containerd.txt" "$OUT/berthd.txt" | sed 's/^/  /'
say "full outputs: $OUT/containerd.txt $OUT/berthd.txt"
for side in containerd berthd; do
  grep -q 'critest exit code 0' "$OUT/$side.txt" || { say "the $side run failed (see its output): its figures are missing above"; exit 1; }
done
