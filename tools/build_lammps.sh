#!/usr/bin/env bash
# Build LAMMPS with the ML-IAP `unified` Python coupling and MPI, once per machine.
#
# Route: Debian trixie's source package of LAMMPS (stable 4 Feb 2025), fetched with `apt-get source`
# through an apt configuration of this script's own (a trixie deb-src line, its own lists and cache
# under the build cache), so the system's apt sources and state stay untouched. When the pinned
# version has left the mirror, the version trixie ships is used. MPICH comes from Debian, Cython
# from PyPI (into the Python that LAMMPS will embed), CMake and Ninja build it.
#
# Usage:   bash tools/build_lammps.sh            # prints `export ...` lines on stdout
#          eval "$(bash tools/build_lammps.sh)"  # builds if needed, then sets the paths
#
# Environment:
#   ICTP_LAMMPS_CACHE  cache folder (default ~/.cache/ictp_calc/lammps)
#   PYTHON             the Python LAMMPS embeds (default: `python` of the active venv, else python3)
#   JOBS               parallel build jobs (default 1: the build shares the machine)
#   LAMMPS_DEB_VERSION pinned source version (default 20250204+dfsg.1-2)
#   DEBIAN_MIRROR      mirror for the deb-src line (default http://deb.debian.org/debian)
#
# Patches of our own in tools/lammps-patches/ (GPL-2.0, like LAMMPS) are applied to the source
# before building; a cached build made without the current patch set is patched and rebuilt
# incrementally (only the files they touch).
#
# Progress goes to stderr; only the export lines go to stdout.
set -euo pipefail

CACHE="${ICTP_LAMMPS_CACHE:-$HOME/.cache/ictp_calc/lammps}"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
JOBS="${JOBS:-1}"
PINNED="${LAMMPS_DEB_VERSION:-20250204+dfsg.1-2}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PYTAG="$("$PYTHON" -c 'import sys; print(f"py{sys.version_info[0]}{sys.version_info[1]}")')"
BUILD="$CACHE/build-$PYTAG"
STAMP="$BUILD/.ictp-built"
PATCHES="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lammps-patches"
PATCH_STAMP="$BUILD/.ictp-patches"
PATCH_SET="$(cat "$PATCHES"/*.patch 2>/dev/null | sha256sum | cut -c1-16)"

log() { echo "[build_lammps] $*" >&2; }

# Apply each patch of tools/lammps-patches/ to the source folder $1 unless it is applied already.
apply_patches() {
    local patch
    for patch in "$PATCHES"/*.patch; do
        [[ -f "$patch" ]] || continue
        # git apply works outside a repository (CI has git: it cloned this one).
        if (cd "$1" && git apply -p1 -R --check "$patch") >/dev/null 2>&1; then
            continue  # already applied
        fi
        log "applying $(basename "$patch")"
        (cd "$1" && git apply -p1 "$patch") >&2
    done
}

need_ninja() {
    command -v ninja >/dev/null 2>&1 || "$PYTHON" -m pip install --quiet ninja >&2
}

print_exports() {
    local src pydir site pylib
    src="$(cat "$STAMP")"
    pydir="$src/python"
    site="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    # LAMMPS's Python module dlopens libpython by name: its folder must be on the library path.
    pylib="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"
    echo "export ICTP_LAMMPS_BIN=$BUILD/lmp"
    echo "export ICTP_LAMMPS_PYTHON_DIR=$pydir"
    echo "export ICTP_LAMMPS_MPIEXEC=$(command -v mpiexec.mpich || command -v mpiexec)"
    echo "export LD_LIBRARY_PATH=$BUILD:$pylib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
    # The standalone lmp embeds the base interpreter, not the venv: hand it the venv's packages.
    echo "export PYTHONPATH=$pydir:$site\${PYTHONPATH:+:\$PYTHONPATH}"
}

if [[ -f "$STAMP" && -x "$BUILD/lmp" ]]; then
    if [[ "$(cat "$PATCH_STAMP" 2>/dev/null)" != "$PATCH_SET" ]]; then
        log "cached build in $BUILD predates the current patches: patching and rebuilding"
        apply_patches "$(cat "$STAMP")"
        need_ninja
        ninja -C "$BUILD" -j"$JOBS" >&2
        echo "$PATCH_SET" > "$PATCH_STAMP"
    fi
    log "cached build found in $BUILD"
    print_exports
    exit 0
fi

mkdir -p "$CACHE"
start=$(date +%s)

# MPICH (and the headers) from Debian.
if ! command -v mpicxx.mpich >/dev/null 2>&1; then
    log "installing mpich from Debian"
    SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    $SUDO apt-get -qq update >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -qq install -y --no-install-recommends \
        mpich libmpich-dev xz-utils >&2
fi
need_ninja
"$PYTHON" -m pip install --quiet cython >&2

# The source tarball through an apt configuration of our own.
SRCROOT="$CACHE/src"
mkdir -p "$SRCROOT"
TARBALL="$(ls "$SRCROOT"/lammps_*.orig.tar.xz 2>/dev/null | head -n1 || true)"
if [[ -z "$TARBALL" ]]; then
    APT="$CACHE/apt"
    mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial"
    echo "deb-src $MIRROR trixie main" > "$APT/sources.list"
    APTOPTS=(-o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
             -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache"
             -o "APT::Sandbox::User=root" -o "Acquire::Languages=none")
    log "fetching the trixie source index"
    apt-get -qq "${APTOPTS[@]}" update >&2
    cd "$SRCROOT"
    # The .dsc may fail to fetch (404 on the mirror); the orig tarball is all we need.
    log "fetching lammps=$PINNED source"
    apt-get -qq "${APTOPTS[@]}" source --download-only "lammps=$PINNED" >&2 || true
    TARBALL="$(ls "$SRCROOT"/lammps_*.orig.tar.xz 2>/dev/null | head -n1 || true)"
    if [[ -z "$TARBALL" ]]; then
        log "pinned $PINNED unavailable, using the version trixie ships"
        apt-get -qq "${APTOPTS[@]}" source --download-only lammps >&2 || true
        TARBALL="$(ls "$SRCROOT"/lammps_*.orig.tar.xz 2>/dev/null | head -n1 || true)"
    fi
    [[ -n "$TARBALL" ]] || { log "no LAMMPS source tarball could be fetched"; exit 1; }
fi
log "source tarball: $TARBALL"
# The upstream folder name inside the tarball (lammps-4Feb2025 for the pinned version).
TOP="$(set +o pipefail; tar -tJf "$TARBALL" 2>/dev/null | head -n1 | cut -d/ -f1)"
if [[ ! -d "$SRCROOT/$TOP/cmake" ]]; then
    log "extracting cmake/ src/ python/ from $TOP"
    tar -xJf "$TARBALL" -C "$SRCROOT" "$TOP/cmake" "$TOP/src" "$TOP/python" "$TOP/LICENSE"
fi
SRC="$SRCROOT/$TOP"
apply_patches "$SRC"

log "configuring in $BUILD (python: $PYTHON)"
cmake -S "$SRC/cmake" -B "$BUILD" -G Ninja \
    -D CMAKE_BUILD_TYPE=Release -D BUILD_SHARED_LIBS=on -D BUILD_MPI=on -D BUILD_OMP=off \
    -D PKG_ML-IAP=on -D PKG_ML-SNAP=on -D PKG_PYTHON=on -D MLIAP_ENABLE_PYTHON=on \
    -D Python_EXECUTABLE="$PYTHON" -D MPI_CXX_COMPILER=mpicxx.mpich -D MPI_C_COMPILER=mpicc.mpich \
    -D WITH_JPEG=off -D WITH_PNG=off -D WITH_FFMPEG=off -D WITH_GZIP=off >&2
log "building with $JOBS job(s)"
ninja -C "$BUILD" -j"$JOBS" >&2
echo "$SRC" > "$STAMP"
echo "$PATCH_SET" > "$PATCH_STAMP"
log "built in $(( $(date +%s) - start )) s"
print_exports
