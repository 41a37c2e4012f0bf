#!/usr/bin/env bash
# Run a make target of this checkout inside a Debian root with a newer QGIS (qgis_root.sh):
#   scripts/test_in_root.sh trixie          # `make test` on QGIS 3.40 LTR
#   scripts/test_in_root.sh sid demo        # `make demo` on QGIS 3.44
# (LANDLEARN_ROOT_CMD='...' runs that command in the checkout instead, for debugging.)
# The checkout is bind-mounted at /landlearn (and ../shared at /shared when it exists), so
# the root runs exactly this tree; its own virtual environment and QGIS profile live in
# the root (/opt/landlearn), built by the same scripts/setup.sh as on the host, and kept
# with the root between runs. Needs root (chroot, mount).
set -uo pipefail
suite="${1:?usage: scripts/test_in_root.sh trixie|sid [make target]}"
target="${2:-test}"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
root=$(bash "$repo/scripts/qgis_root.sh" "$suite" | tail -1) || exit 1
# binds a run stopped by a kill left behind (its EXIT trap never ran): the checkout they
# showed may be gone, and binding over such a mount point fails (ENOENT). One run at a
# time per root, as the shared virtual environment inside it requires anyway.
exec 9>"$root.lock"
if ! flock -n 9; then echo "another run is using the $suite root at $root" >&2; exit 1; fi
awk -v r="$root" 'index($5, r "/") == 1 {print $5}' /proc/self/mountinfo \
  | sort -r | while read -r stale; do umount -l "$stale" 2>/dev/null; done
mounts=()
cleanup() {
  for ((i=${#mounts[@]}-1; i>=0; i--)); do umount -l "${mounts[$i]}" 2>/dev/null; done
}
trap cleanup EXIT
failed_mount() {  # without /proc, /dev or the checkout the suite fails somewhere obscure
  echo "cannot mount $1 in the $suite root: this needs root with mount rights (not an" \
    "unprivileged container)" >&2
  exit 1
}
bind() {  # bind SOURCE TARGET-INSIDE-ROOT
  mkdir -p "$root$2"
  if mount --bind "$1" "$root$2"; then mounts+=("$root$2"); else failed_mount "$1"; fi
}
if mount -t proc proc "$root/proc"; then mounts+=("$root/proc"); else failed_mount /proc; fi
bind /sys /sys
bind /dev /dev
bind /dev/pts /dev/pts
bind "$repo" /landlearn
if [ -d "$repo/../shared" ]; then bind "$(readlink -f "$repo/../shared")" /shared; fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
# the host's trust store and pip settings: where TLS goes through a proxy with its own CA
# (and pip through a mirror), the root must see them to reach PyPI
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  touch "$root/etc/ssl/certs/ca-certificates.crt"
  mount --bind /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt" \
    && mounts+=("$root/etc/ssl/certs/ca-certificates.crt")
fi
if [ -f /etc/pip.conf ]; then cp /etc/pip.conf "$root/etc/pip.conf"; fi
passed=()
for v in $(compgen -e | grep -E '^(PIP_|NUMBA_|LANDLEARN_NO_|https?_proxy$|HTTPS?_PROXY$|no_proxy$|NO_PROXY$)'); do
  passed+=("$v=${!v}")
done
qgis=$(chroot "$root" dpkg-query -W -f='${Version}' qgis 2>/dev/null)
echo "==> ${LANDLEARN_ROOT_CMD:-make $target} in the $suite root (QGIS $qgis), $repo at /landlearn"
chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANDLEARN_VENV=/opt/landlearn/venv LANDLEARN_PROFILE=/opt/landlearn/qgis-profile \
  ${PYTEST_ARGS:+PYTEST_ARGS="$PYTEST_ARGS"} "${passed[@]}" \
  bash -c "cd /landlearn && ${LANDLEARN_ROOT_CMD:-make $target}"
