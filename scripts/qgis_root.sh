#!/usr/bin/env bash
# A Debian root with a newer QGIS, to run LandLearn's suite on the QGIS users run:
#   scripts/qgis_root.sh trixie     # QGIS 3.40 LTR, Python 3.13, numpy 2, rasterio 1.4
#   scripts/qgis_root.sh sid        # QGIS 3.44
# Built with debootstrap (minbase) and Debian's own QGIS packages, once per machine: the
# root is cached under $LANDLEARN_ROOTS (default ~/.cache/landlearn-roots) and rebuilt only
# when its recipe (suite, packages, RECIPE below) changes. Prints the root's path on its last
# line. Needs root (chroot).
set -euo pipefail
suite="${1:?usage: scripts/qgis_root.sh trixie|sid}"
case "$suite" in trixie|sid) ;; *) echo "unknown suite '$suite' (trixie or sid)" >&2; exit 2;; esac
if [ "$(id -u)" != 0 ]; then
  echo "scripts/qgis_root.sh needs root (debootstrap and chroot); run it with sudo" >&2
  exit 1
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="${LANDLEARN_ROOTS:-${XDG_CACHE_HOME:-$HOME/.cache}/landlearn-roots}"
root=$(realpath -m "$cache/$suite")  # canonical: compared with the mount table below
PACKAGES="qgis python3-qgis qgis-providers python3-gdal python3-rasterio python3-venv python3-pip \
  xvfb xauth make git ca-certificates locales"
RECIPE=1  # bump to rebuild every cached root
want=$(echo "$suite $RECIPE $PACKAGES" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$root/.landlearn-root" 2>/dev/null)" = "$want" ]; then
  echo "$root"
  exit 0
fi
# an older root of this suite (another recipe) is replaced below: nothing may be mounted
# in it (a test run killed before its clean-up leaves the checkout bound at /landlearn,
# and a removal would go through it). Checked before minutes of debootstrap.
if [ -e "$root" ]; then
  if ! mounts=$(cat /proc/self/mountinfo); then
    echo "cannot read /proc/self/mountinfo to check $root for mounts; remove it by hand" >&2
    exit 1
  fi
  case "$mounts" in
    *" $root "*|*" $root/"*)
      echo "an older $suite root at $root still has mounts (a stopped test run?); unmount" \
        "them (findmnt -R $root) and run again" >&2
      exit 1;;
  esac
fi
mkdir -p "$cache"
if ! command -v debootstrap >/dev/null; then
  echo "==> apt: installing debootstrap" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2
fi
rm -rf "$root.part"
echo "==> debootstrap $suite into $root (a few minutes, once)" >&2
debootstrap --variant=minbase --include=ca-certificates "$suite" "$root.part" \
  http://deb.debian.org/debian >&2
echo "==> apt in the $suite root: QGIS, its Python, GDAL, rasterio, Xvfb" >&2
cp /etc/resolv.conf "$root.part/etc/resolv.conf"
# Check-Valid-Until off: a mirror may serve a frozen snapshot whose Release file has
# expired (sid's expire within a week); the signatures are still checked
chroot "$root.part" /usr/bin/env DEBIAN_FRONTEND=noninteractive PACKAGES="$PACKAGES" bash -c '
  apt-get -o Acquire::Check-Valid-Until=false update -qq &&
  apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null &&
  apt-get clean' >&2
# an older root of this suite (another recipe) goes first: mv into an existing folder put
# the new root inside the old one, and the stamp then marked the old one current
if [ -e "$root" ]; then
  case "$(cat /proc/self/mountinfo)" in
    *" $root "*|*" $root/"*) echo "$root gained mounts while it was rebuilt" >&2; exit 1;;
  esac
  rm -rf --one-file-system "$root"
fi
mv "$root.part" "$root"
echo "$want" > "$root/.landlearn-root"
echo "$root"
