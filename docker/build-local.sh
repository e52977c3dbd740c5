#!/usr/bin/env bash
# Builds xmodal's images where Docker Hub is out of reach, and smoke-tests the CPU one.
#
#   docker/build-local.sh [STEP...]     steps: base cpu smoke gpu (default: base cpu smoke)
#
# base   debootstrap a Debian bookworm root filesystem and import it as localhost/xmodal-base
# cpu    buildah build docker/Dockerfile on that base (chroot isolation: no daemon, no runc)
# smoke  inside the CPU image (buildah run): index a generated folder, search from the CLI,
#        serve, then GET /healthz and /api/search
# gpu    buildah build docker/Dockerfile.gpu on the same base (it cannot run without a GPU)
#
# Needs root and `apt-get install debootstrap buildah`. Settings (environment):
#   WORK              rootfs and build files (default /var/tmp/xmodal-build; never the repo)
#   MIRROR            Debian mirror for debootstrap (default http://deb.debian.org/debian)
#   TORCH_INDEX_URL, TORCH_VERSION, TORCHVISION_VERSION   torch for both images
#                     (default: PyPI's 2.14.1 / 0.29.1, the CUDA build, ~5.5 GB installed)
#   PIP_MIRROR_DIRS   space-separated local PEP 503 "simple" folders; each is mounted read-only
#                     into the build and used as an extra index (e.g. /opt/pypi-more/simple)
#   BUILD_CA          CA bundle pip trusts inside the build (default: this machine's,
#                     /etc/ssl/certs/ca-certificates.crt, which holds a TLS proxy's CA where
#                     there is one); mounted read-only, never stored in the image
#   REBUILD_BASE=1    debootstrap again even if localhost/xmodal-base:bookworm exists
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-/var/tmp/xmodal-build}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
BASE=localhost/xmodal-base:bookworm
CPU_IMAGE=localhost/xmodal:cpu
GPU_IMAGE=localhost/xmodal:gpu
TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://pypi.org/simple}
TORCH_VERSION=${TORCH_VERSION:-2.14.1}
TORCHVISION_VERSION=${TORCHVISION_VERSION:-0.29.1}
PIP_MIRROR_DIRS=${PIP_MIRROR_DIRS:-}
BUILD_CA=${BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}

say() { echo "[$(date -u +%H:%M:%S)] $*"; }

step_base() {
    if [ "${REBUILD_BASE:-0}" != 1 ] && buildah inspect --type image "$BASE" >/dev/null 2>&1; then
        say "base: $BASE exists (REBUILD_BASE=1 to make it again)"
        return
    fi
    local rootfs=$WORK/rootfs
    rm -rf "$rootfs"
    mkdir -p "$WORK"
    say "base: debootstrap bookworm into $rootfs"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" "$MIRROR"
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
    chroot "$rootfs" apt-get clean
    rm -rf "$rootfs"/var/lib/apt/lists/*
    say "base: importing $(du -sh "$rootfs" | cut -f1) as $BASE"
    local ctr mnt
    ctr=$(buildah from scratch)
    mnt=$(buildah mount "$ctr")
    cp -a "$rootfs"/. "$mnt"/
    buildah umount "$ctr" >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --cmd /bin/bash "$ctr"
    buildah commit --rm "$ctr" "$BASE" >/dev/null
    rm -rf "$rootfs"
}

# Build arguments and mounts shared by both images.
build_args() {
    local extra=()
    local dir
    for dir in $PIP_MIRROR_DIRS; do
        extra+=("file://$dir")
    done
    BUILD_ARGS=(
        --isolation chroot --layers --format docker  # docker format keeps HEALTHCHECK
        --build-arg "BASE_IMAGE=$BASE"
        --build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL"
        --build-arg "TORCH_VERSION=$TORCH_VERSION"
        --build-arg "TORCHVISION_VERSION=$TORCHVISION_VERSION"
    )
    if [ -f "$BUILD_CA" ]; then
        BUILD_ARGS+=(--volume "$BUILD_CA:/run/xmodal-build-ca.crt:ro"
            --build-arg PIP_CERT=/run/xmodal-build-ca.crt)
    fi
    if [ "${#extra[@]}" -gt 0 ]; then
        # The mirrors' pages link to ../../files/, so mount each mirror's parent folder.
        for dir in $PIP_MIRROR_DIRS; do
            BUILD_ARGS+=(--volume "$(dirname "$dir"):$(dirname "$dir"):ro")
        done
        BUILD_ARGS+=(--build-arg "PIP_EXTRA_INDEX_URL=${extra[*]}")
    fi
}

step_cpu() {
    build_args
    say "cpu: buildah build docker/Dockerfile -> $CPU_IMAGE"
    buildah build "${BUILD_ARGS[@]}" -f "$REPO/docker/Dockerfile" -t "$CPU_IMAGE" "$REPO"
    say "cpu: built; $(buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$CPU_IMAGE")"
}

step_gpu() {
    build_args
    say "gpu: buildah build docker/Dockerfile.gpu -> $GPU_IMAGE"
    buildah build "${BUILD_ARGS[@]}" -f "$REPO/docker/Dockerfile.gpu" -t "$GPU_IMAGE" "$REPO"
    say "gpu: built; $(buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$GPU_IMAGE")"
}

step_smoke() {
    say "smoke: docker/smoke-test.sh inside $CPU_IMAGE"
    local ctr rc=0
    ctr=$(buildah from "$CPU_IMAGE")
    buildah run --isolation chroot -v "$REPO/docker/smoke-test.sh:/smoke-test.sh:ro" "$ctr" \
        -- bash /smoke-test.sh || rc=$?
    buildah rm "$ctr" >/dev/null
    [ "$rc" = 0 ] && say "smoke: passed" || say "smoke: FAILED (exit $rc)"
    return "$rc"
}

steps=("$@")
[ "${#steps[@]}" -gt 0 ] || steps=(base cpu smoke)
for s in "${steps[@]}"; do
    case "$s" in
        base | cpu | smoke | gpu)
            start=$(date +%s)
            "step_$s"
            say "$s: $(($(date +%s) - start)) s"
            ;;
        *) echo "unknown step '$s' (base, cpu, smoke, gpu)" >&2; exit 2 ;;
    esac
done
