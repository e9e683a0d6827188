#!/usr/bin/env bash
# npm run test:cri — the Kubernetes CRI conformance suite (critest, cri-tools v1.26.1) against a
# private berthd serving the CRI, offline.
#
#   env: CRITEST        a critest binary (crictl and ginkgo beside it); built when not given
#        CRITEST_TOOLS  the offline critest kit: build.sh, rig.sh, make-images.sh, run.sh and the
#                       cri-tools source archive (default ../shared/tools/critest beside the
#                       repository, else /work/shared/tools/critest)
#        CRI_WORK       scratch directory (default /tmp/berth-critest)
#        PARALLEL       critest --parallel N (default 1)   BENCHMARK=1  the benchmark specs instead
#        KEEP_REGISTRY=1  leave the registry running when this run started it
#
# Steps: build critest when missing; start the kit's registry on 127.0.0.1:5055 and fill it with
# the look-alike images (once); start berthd on private roots with --cri-socket, a CNI config dir
# whose bridge crit0 has 10.77.88.0/24 (no route out, no masquerade) and registry mirrors that
# send registry.k8s.io and gcr.io to the local registry; run the suite; stop berthd and remove
# what it left (pods, bridge, scratch roots). Exits non-zero unless the suite reports 0 failed.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/critest-kit.sh
WORK=${CRI_WORK:-/tmp/berth-critest}
REGISTRY=127.0.0.1:5055
for f in build.sh rig.sh make-images.sh run.sh; do
  [ -x "$TOOLS/$f" ] || { echo "test:cri: $TOOLS/$f is missing; set CRITEST_TOOLS to the critest kit" >&2; exit 2; }
done
[ -x "$REPO/dist/src/bin/berthd.js" ] || [ -f "$REPO/dist/src/bin/berthd.js" ] || { echo "test:cri: build first (npm run build)" >&2; exit 2; }
mkdir -p "$WORK"

if [ -z "${CRITEST:-}" ]; then
  "$TOOLS/build.sh" "$WORK/bin" || { echo "test:cri: building critest failed" >&2; exit 1; }
  CRITEST=$WORK/bin/critest
fi
CRICTL=$(dirname "$CRITEST")/crictl

# The registry and its images: reused when one runs; else started here (its images are made once,
# they stay in the kit's registry storage) and stopped at the end unless KEEP_REGISTRY=1.
STARTED_REGISTRY=0
if ! curl -fsS "http://$REGISTRY/v2/" >/dev/null 2>&1; then
  "$TOOLS/rig.sh" registry || exit 1
  STARTED_REGISTRY=1
fi
if ! curl -fsS "http://$REGISTRY/v2/pause/tags/list" 2>/dev/null | grep -q '3.6'; then
  WORK="$WORK/images" "$TOOLS/make-images.sh" "$REGISTRY" || { [ "$STARTED_REGISTRY" = 1 ] && "$TOOLS/rig.sh" down; exit 1; }
fi

RIG=$(mktemp -d "$WORK/rig.XXXXXX")
mkdir -p "$RIG/net.d" "$RIG/hosts/registry.k8s.io" "$RIG/hosts/gcr.io" "$RIG/cni"
cat > "$RIG/net.d/10-critest.conflist" <<EOF
{
  "cniVersion": "0.4.0",
  "name": "berth-critest",
  "plugins": [
    { "type": "bridge", "bridge": "crit0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": { "type": "host-local", "dataDir": "$RIG/cni", "ranges": [[{ "subnet": "10.77.88.0/24" }]],
                "routes": [{ "dst": "10.77.88.0/24" }] } },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
for h in registry.k8s.io gcr.io; do
  printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "$REGISTRY" "$REGISTRY" > "$RIG/hosts/$h/hosts.toml"
done

SOCK=$RIG/cri.sock
"$REPO/bin/berthd" ${BERTHD_FLAGS:-} --bridge none -H "unix://$RIG/berth.sock" --data-root "$RIG/data" --exec-root "$RIG/exec" --pidfile "$RIG/berthd.pid" \
  --cri-socket "$SOCK" --pod-infra-image "$REGISTRY/pause:3.6" --cni-conf-dir "$RIG/net.d" --cni-bin-dir /usr/lib/cni \
  --registry-config "$RIG/hosts" > "$RIG/berthd.log" 2>&1 &
BERTHD=$!
cleanup() {
  local p
  if [ -S "$SOCK" ]; then
    for p in $("$CRICTL" --runtime-endpoint "unix://$SOCK" pods -q 2>/dev/null); do
      "$CRICTL" --runtime-endpoint "unix://$SOCK" rmp -f "$p" >/dev/null 2>&1
    done
  fi
  curl -fsS --unix-socket "$RIG/berth.sock" "http://x/containers/json?all=1" 2>/dev/null | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4 |
    while read -r id; do curl -fsS -X DELETE --unix-socket "$RIG/berth.sock" "http://x/containers/$id?force=1" >/dev/null 2>&1; done
  kill "$BERTHD" 2>/dev/null; wait "$BERTHD" 2>/dev/null
  ip link del crit0 2>/dev/null
  # portmap's shared chains, once no pod's chain is left in them.
  if ! iptables -t nat -S 2>/dev/null | grep -q -- '-N CNI-DN-'; then
    iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT 2>/dev/null
    iptables -t nat -D OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT 2>/dev/null
    iptables -t nat -D POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ 2>/dev/null
    for ch in CNI-HOSTPORT-DNAT CNI-HOSTPORT-MASQ CNI-HOSTPORT-SETMARK; do iptables -t nat -F "$ch" 2>/dev/null; iptables -t nat -X "$ch" 2>/dev/null; done
  fi
  grep -o " $RIG[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$RIG"
  if [ "$STARTED_REGISTRY" = 1 ] && [ "${KEEP_REGISTRY:-0}" != 1 ]; then "$TOOLS/rig.sh" down >/dev/null 2>&1; fi
}
trap cleanup EXIT
for _ in $(seq 1 200); do [ -S "$SOCK" ] && break; kill -0 "$BERTHD" 2>/dev/null || break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "test:cri: berthd did not start:" >&2; cat "$RIG/berthd.log" >&2; exit 1; }

OUT=$RIG/run.log
CRITEST="$CRITEST" CRICTL="$CRICTL" REPORT_DIR="$WORK/reports/$(date -u +%Y%m%dT%H%M%SZ)" "$TOOLS/run.sh" "unix://$SOCK" 2>&1 | tee "$OUT"
last=$(tail -n 1 "$OUT")
if [ "${BENCHMARK:-0}" = 1 ]; then
  grep -q 'critest exit code 0' "$OUT" || { echo "test:cri: the benchmark failed (berthd log: $WORK/berthd-last.log)" >&2; cp "$RIG/berthd.log" "$WORK/berthd-last.log"; exit 1; }
  exit 0
fi
case "$last" in
  *" passed, 0 failed,"*) echo "test:cri: $last" ;;
  *) echo "test:cri: FAILED: $last (berthd log: kept in $WORK/berthd-last.log)" >&2; cp "$RIG/berthd.log" "$WORK/berthd-last.log"; exit 1 ;;
esac
