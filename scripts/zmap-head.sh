#!/usr/bin/env bash
# Builds ZMap HEAD (4.3 and later) from its source, out of the repository, and re-records
# the fixtures of tests/zmap_oracle.rs's ZMap 4.3 oracle with it.
#
#   scripts/zmap-head.sh [--src DIR] [--prefix DIR] [--jobs N]          build
#   scripts/zmap-head.sh [--src DIR] [--prefix DIR] --record            build, then record
#
# --src     ZMap's source tree (default /work/zmap-src). A git checkout or an extracted
#           `git archive`; for the latter, a file .source-rev in it may hold
#           `git describe --tags` of the commit, which is then recorded beside the fixtures.
# --prefix  where ZMap is built (default /work/zmap-head: sbin/zmap, build/, VERSION).
# --record  after the build, run the oracle's command lines with ZMap on the namespace
#           testbed (tests/zmap_oracle.rs, test record_zmap43_fixtures) and rewrite
#           tests/fixtures/zmap-4.3/. Needs root (namespaces), as every live test.
#
# The Debian build dependencies are installed with apt-get when missing (root). CI cannot
# fetch ZMap's source, so CI never runs this script: it compares synsurvey with the
# recorded fixtures instead. The build sends nothing; --record's scans run inside the
# namespaces the test creates, toward 198.18.0.0/23 only (docs/testbed.md).
set -euo pipefail

SRC=/work/zmap-src
PREFIX=/work/zmap-head
JOBS=2
RECORD=0
REPO=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)

die() { echo "zmap-head.sh: $*" >&2; exit 2; }
while (($#)); do
    case $1 in
        --src) SRC=${2:?--src needs a directory}; shift 2 ;;
        --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
        --jobs) JOBS=${2:?--jobs needs a number}; shift 2 ;;
        --record) RECORD=1; shift ;;
        -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done
[[ -f $SRC/CMakeLists.txt && -f $SRC/src/zmap.c ]] || die "$SRC is not ZMap's source tree (no CMakeLists.txt, src/zmap.c)"
SRC=$(cd "$SRC" && pwd)
case $PREFIX in "$REPO" | "$REPO"/*) die "--prefix $PREFIX is inside the repository" ;; esac

# Debian package names of ZMap's build dependencies (its INSTALL.md), with a file each
# one provides, so that nothing is installed twice.
deps=(cmake:/usr/bin/cmake gengetopt:/usr/bin/gengetopt flex:/usr/bin/flex byacc:/usr/bin/byacc
    libgmp-dev:/usr/include/x86_64-linux-gnu/gmp.h libpcap-dev:/usr/include/pcap.h
    libjson-c-dev:/usr/include/json-c/json.h libunistring-dev:/usr/include/unistr.h
    libjudy-dev:/usr/include/Judy.h pkg-config:/usr/bin/pkg-config gcc:/usr/bin/gcc make:/usr/bin/make)
need=()
for pair in "${deps[@]}"; do
    pkg=${pair%%:*} file=${pair#*:}
    [[ -e $file ]] || dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing ${need[*]}; run as root to install them"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The revision: git describe in a checkout, else .source-rev, else unknown.
if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
    REV=$(git -C "$SRC" describe --tags --always --dirty)
elif [[ -f $SRC/.source-rev ]]; then
    REV=$(head -n1 "$SRC/.source-rev")
else
    REV=unknown
fi

mkdir -p "$PREFIX/build" "$PREFIX/sbin"
# ZMap's CMakeLists "upgrades" /etc/zmap when it configures: it symlinks blocklist.conf and
# rewrites zmap.conf's blacklist-file line, after which Debian's zmap 2.1.1 (the live
# oracle) refuses to start. RESPECT_INSTALL_PREFIX_CONFIG points it at a relative etc/zmap
# instead, and /etc/zmap is checked to be unchanged. No `make install` either: it would
# copy ZMap's configuration files there.
etc_before=$(cd /etc && find zmap -exec ls -ld --time-style=+ {} + 2>/dev/null; cat /etc/zmap/* 2>/dev/null | sha256sum)
(cd "$PREFIX/build" && cmake -S "$SRC" -B . -DCMAKE_BUILD_TYPE=Release -DWITH_WERROR=OFF \
    -DRESPECT_INSTALL_PREFIX_CONFIG=ON) >"$PREFIX/build.log" 2>&1 \
    || { tail -n 30 "$PREFIX/build.log" >&2; die "cmake failed (log: $PREFIX/build.log)"; }
etc_after=$(cd /etc && find zmap -exec ls -ld --time-style=+ {} + 2>/dev/null; cat /etc/zmap/* 2>/dev/null | sha256sum)
[[ $etc_before == "$etc_after" ]] || die "ZMap's cmake changed /etc/zmap: restore Debian's zmap.conf (dpkg --verify zmap)"
make -C "$PREFIX/build" -j"$JOBS" zmap >>"$PREFIX/build.log" 2>&1 \
    || { tail -n 30 "$PREFIX/build.log" >&2; die "make failed (log: $PREFIX/build.log)"; }
install -m 0755 "$PREFIX/build/src/zmap" "$PREFIX/sbin/zmap"
ZMAP=$PREFIX/sbin/zmap
# An empty configuration file: ZMap HEAD reads /etc/zmap/zmap.conf otherwise, and Debian's
# 2.1.1 file has an option (blacklist-file) that HEAD no longer knows.
: >"$PREFIX/empty.conf"
VERSION=$("$ZMAP" -C "$PREFIX/empty.conf" --version 2>/dev/null | head -n1)
printf '%s\nsource %s\nrevision %s\n' "$VERSION" "$SRC" "$REV" >"$PREFIX/VERSION"
echo "zmap-head.sh: built $VERSION ($REV) at $ZMAP"

if ((RECORD)); then
    [[ $(id -u) -eq 0 ]] || die "--record needs root (network namespaces)"
    cd "$REPO"
    ZMAP43="$ZMAP" ZMAP43_REVISION="$REV" ZMAP43_RECORD=1 \
        cargo test --profile ci --test zmap_oracle -- --ignored --exact record_zmap43_fixtures --nocapture
    echo "zmap-head.sh: fixtures written to tests/fixtures/zmap-4.3/ (review with git diff)"
fi
