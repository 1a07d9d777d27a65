#!/usr/bin/env bash
# Build and run smartcharge's container image on a machine without a Docker daemon or a
# registry: rootful buildah + podman from Debian's packages (see shared/docker-notes.md).
#
#   docker/build-test.sh prepare            install the tools (apt-get), write containers.conf,
#                                           make and import the python:3.11-slim stand-in (cached)
#   docker/build-test.sh build TAG          build the UNMODIFIED docker/Dockerfile as TAG
#   docker/build-test.sh podman ARGS...     run podman on the same storage (e.g. `images`)
#   docker/build-test.sh                    prepare, then build localhost/smartcharge:dev
#
# No registry is reachable here, so `python:3.11-slim` is a stand-in: Debian bookworm minbase
# with its python3 (3.11.2, in /usr/bin) and pip, tagged docker.io/library/python:3.11-slim.
# A pass proves the Dockerfile, the packaging and the entrypoint, not the exact upstream base.
# The machine's extra CA certificates (the TLS proxy in front of PyPI) go into the stand-in
# only, never into the project's Dockerfile.
#
# Everything lives under $SMARTCHARGE_CI_CACHE (default /var/cache/smartcharge-ci): the base
# tar (saves the ~30 s of mmdebstrap) and the overlay storage with buildah's layer cache
# (saves the ~25 s pip install of the dependencies). Only root can do this (mmdebstrap,
# rootful podman).
set -euo pipefail

CACHE=${SMARTCHARGE_CI_CACHE:-/var/cache/smartcharge-ci}
RUNROOT=${SMARTCHARGE_CI_RUNROOT:-/run/smartcharge-ci}
BASE_TAG=docker.io/library/python:3.11-slim
# Bump when the stand-in recipe below changes, so the cached tar is rebuilt.
BASE_RECIPE=1
BASE_TAR=$CACHE/python-3.11-slim-standin-v$BASE_RECIPE.tar
CACHE_TAG=localhost/smartcharge-ci:layer-cache
PROJECT=$(cd "$(dirname "$0")/.." && pwd)

STORE=(--root "$CACHE/storage" --runroot "$RUNROOT" --storage-driver overlay)
# The same settings as containers.conf below, as flags, so a different containers.conf on
# the machine cannot break us: crun fails here on hybrid cgroups, and the default nofile
# ulimit needs CAP_SYS_RESOURCE, which the machine lacks.
ENGINE=(--cgroup-manager=cgroupfs --runtime runc --events-backend file)

die() { echo "build-test.sh: $*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (rootful buildah/podman, mmdebstrap)"
}

install_tools() {
    local missing=()
    for tool in buildah podman runc; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    # mmdebstrap makes the stand-in base; debootstrap only where apt-get cannot install it.
    if [ ! -f "$BASE_TAR" ] && ! command -v mmdebstrap >/dev/null; then
        if command -v apt-get >/dev/null || ! command -v debootstrap >/dev/null; then
            missing+=(mmdebstrap)
        fi
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    echo "build-test.sh: installing buildah podman runc mmdebstrap" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        buildah podman runc mmdebstrap >/dev/null
}

write_containers_conf() {
    local conf=/etc/containers/containers.conf want
    want='# Written by smartcharge docker/build-test.sh (see shared/docker-notes.md):
# crun fails on this machine (hybrid cgroups) and the default ulimits need CAP_SYS_RESOURCE.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=20000:20000"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"'
    if [ -f "$conf" ] && [ "$(cat "$conf")" = "$want" ]; then
        return 0
    fi
    mkdir -p /etc/containers
    if [ -f "$conf" ] && [ ! -f "$conf.before-smartcharge" ]; then
        cp -p "$conf" "$conf.before-smartcharge"
    fi
    printf '%s\n' "$want" >"$conf"
}

apt_mirror() {
    local m
    m=$(grep -hoE '^(deb |URIs:) *[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | awk '{print $NF}' \
        | head -1)
    echo "${m:-http://deb.debian.org/debian}"
}

make_base_tar() {
    [ -f "$BASE_TAR" ] && return 0
    local rootfs
    rootfs=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    local packages=python3,python3-pip,python3-venv,ca-certificates
    # mmdebstrap takes ~30 s where debootstrap takes 60-100 s (parallel downloads, apt).
    echo "build-test.sh: making the python:3.11-slim stand-in (~30 s, once)" >&2
    if command -v mmdebstrap >/dev/null; then
        mmdebstrap --quiet --variant=minbase --include="$packages" bookworm "$rootfs" \
            "$(apt_mirror)" >"$CACHE/bootstrap.log" 2>&1
    else
        debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" \
            "$(apt_mirror)" >"$CACHE/bootstrap.log" 2>&1
    fi || { tail -20 "$CACHE/bootstrap.log" >&2; rm -rf "$rootfs"; die "bootstrap failed"; }
    # The machine's TLS egress CA, so pip inside the build reaches PyPI (stand-in only).
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" \
        2>/dev/null || true
    chroot "$rootfs" update-ca-certificates >/dev/null 2>&1
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$rootfs/etc/pip.conf"
    # Look like the official image: no PEP 668 marker, `python` and `pip` on PATH.
    rm -f "$rootfs"/usr/lib/python3*/EXTERNALLY-MANAGED
    ln -sf python3 "$rootfs/usr/bin/python"
    ln -sf pip3 "$rootfs/usr/bin/pip"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$BASE_TAR.tmp" .
    mv "$BASE_TAR.tmp" "$BASE_TAR"
    rm -rf "$rootfs"
}

import_base() {
    local recipe
    recipe=$(podman "${STORE[@]}" image inspect "$BASE_TAG" \
        --format '{{index .Labels "smartcharge.standin"}}' 2>/dev/null || true)
    [ "$recipe" = "$BASE_RECIPE" ] && return 0
    podman "${STORE[@]}" import --quiet \
        --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' \
        --change "LABEL smartcharge.standin=$BASE_RECIPE" \
        "$BASE_TAR" "$BASE_TAG" >/dev/null
}

prepare() {
    need_root
    mkdir -p "$CACHE" "$RUNROOT"
    # One preparer at a time: several test runs may share this machine.
    exec 9>"$CACHE/lock"
    flock -w 600 9 || die "timed out waiting for $CACHE/lock"
    install_tools
    write_containers_conf
    make_base_tar
    import_base
    # Drop images no tag refers to any more (old builds); the layer chain of tagged images
    # stays, so the next build reuses the pip install of the dependencies.
    podman "${STORE[@]}" image prune -f >/dev/null 2>&1 || true
    flock -u 9
}

build() {
    local tag=${1:?usage: build TAG}
    need_root
    # The second tag keeps the newest layer chain (above all the pip install of the
    # dependencies) alive after the caller removes its own tag, for the next build.
    buildah "${STORE[@]}" bud --quiet --format docker --isolation chroot --pull=never --force-rm \
        --layers -f "$PROJECT/docker/Dockerfile" -t "$tag" -t "$CACHE_TAG" "$PROJECT"
}

case "${1:-}" in
    prepare) prepare ;;
    build) shift; build "$@" ;;
    podman) shift; exec podman "${STORE[@]}" "${ENGINE[@]}" "$@" ;;
    buildah) shift; exec buildah "${STORE[@]}" "$@" ;;
    "") prepare; build localhost/smartcharge:dev ;;
    *) die "unknown command ${1}; use prepare, build TAG, podman ARGS... or buildah ARGS..." ;;
esac
