#!/usr/bin/env bash
# Writes a tar of a tiny root filesystem built from the host's busybox-static
# to stdout: /bin/busybox plus one symlink per applet, and the usual empty dirs.
set -euo pipefail
bb=${BUSYBOX:-/bin/busybox}
[ -x "$bb" ] || bb=/usr/bin/busybox
if ! "$bb" --list >/dev/null 2>&1; then
  echo "busybox not found: apt-get install busybox-static" >&2
  exit 1
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir"/{bin,etc,proc,sys,dev,tmp,root,var,home}
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
tar --numeric-owner -C "$dir" -cf - .
