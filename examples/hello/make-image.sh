#!/bin/sh
# Makes the image `pycompose/busybox:latest` from the host's busybox-static (Debian package
# busybox-static, installed by install.sh): one static binary, one symlink per applet, and the
# few files in /etc that tools look for. No network, no registry, a few seconds.
#
#   ./make-image.sh            # uses `pycompose` from PATH
#   PYCOMPOSE="python3 -m compose.cli.main" ./make-image.sh
set -eu

busybox=${BUSYBOX:-/bin/busybox}
ref=${IMAGE:-pycompose/busybox:latest}
pycompose=${PYCOMPOSE:-pycompose}

if [ ! -x "$busybox" ]; then
    echo "make-image.sh: $busybox not found (apt-get install busybox-static)" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
root=$tmp/rootfs

for d in bin sbin usr/bin usr/sbin etc tmp root var/www proc sys dev; do
    mkdir -p "$root/$d"
done
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list-full); do
    [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' \
    > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"

tar -C "$root" -cf "$tmp/rootfs.tar" .
# shellcheck disable=SC2086  # $pycompose may be a command with arguments
$pycompose image import --change 'CMD ["sh"]' "$tmp/rootfs.tar" "$ref" >/dev/null
echo "made $ref"
