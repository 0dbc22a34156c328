#!/usr/bin/env bash
# Builds the fleet's image (gateway and operator, from the repository's
# Containerfile) with Podman, on Node 24 base images made locally: no image
# registry is needed.
#
#   localhost/im-node:<node>-<suite>-r<rev>    Debian minbase + ca-certificates + the
#                                              Node binary of node_modules/node (the
#                                              `node` devDependency); also tagged
#                                              im-node:<major>-<suite>-r<rev>
#   localhost/im-node-build:<node>-npm<npm>-<suite>-r<rev>
#                                              the same plus the host's npm CLI, for the
#                                              Containerfile's `npm ci` stage only
#   localhost/im-gateway:<inputs hash>         the image; the tag is a hash of what goes
#                                              into it, so it is rebuilt only when one of
#                                              those changes
#
# Idempotent; a warm run only hashes the inputs. Run as root, after `npm ci`
# (which puts Node 24 in node_modules) and e2e/infra/setup.sh (which installs
# Podman and mmdebstrap). Prints `export IMGW_GATEWAY_IMAGE=...` on stdout and
# writes the same reference to $IMGW_CACHE_DIR/images/im-gateway.ref.
#
# Usage: build-images.sh            build what is missing
#        build-images.sh --print-ref print the image reference for the current
#                                    sources without building (no root needed)
#
# Environment: IMGW_CACHE_DIR (/var/cache/im-gateway-fleet); IMGW_BUILD_CA_FILE,
# a PEM bundle the `npm ci` stage trusts besides Node's own CAs (default: the
# host's bundle, so that a TLS-intercepting proxy the host trusts works too).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=SCRIPTDIR/../infra/images.env
source "$root/e2e/infra/images.env"
suite="$IMGW_DEBIAN_SUITE"
# Bump whenever the recipe of the base images below changes: they are rebuilt
# only when their tag is missing.
base_rev=1
cache="${IMGW_CACHE_DIR:-/var/cache/im-gateway-fleet}"
work="$cache/images"
node_bin="$root/node_modules/node/bin/node"
ca_file="${IMGW_BUILD_CA_FILE-/etc/ssl/certs/ca-certificates.crt}"
# Image tags of earlier sources kept beside the newest; older ones are removed.
keep_gateway_images=3

log() { printf '[images] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -x $node_bin ]] || die "$node_bin is missing: run 'npm ci' first (the node devDependency ships it)"
node_version="$("$node_bin" -p process.versions.node)"
[[ ${node_version%%.*} -ge 24 ]] || die "node_modules/node is Node $node_version; the image needs 24+"

# The host's npm CLI, for the build stage only. Its version is in the build
# base's tag, so another npm makes another build base.
npm_dir() {
  local cli
  cli="$(readlink -f "$(command -v npm)")" || return 1
  cli="$(cd "$(dirname "$cli")/.." && pwd)"
  [[ -f $cli/package.json ]] && grep -q '"name": "npm"' "$cli/package.json" || return 1
  echo "$cli"
}
npm_home="$(npm_dir)" || die "no npm CLI found on PATH"
npm_version="$(sed -n 's/^  "version": "\(.*\)",$/\1/p' "$npm_home/package.json")"
[[ -n $npm_version ]] || die "cannot read the npm version in $npm_home/package.json"

base_image="localhost/im-node:$node_version-$suite-r$base_rev"
base_alias="localhost/im-node:${node_version%%.*}-$suite-r$base_rev"
build_image="localhost/im-node-build:$node_version-npm$npm_version-$suite-r$base_rev"

# What goes into the image, as .containerignore selects it, plus the recipe and
# the bases. Paths are hashed with the contents, so a rename counts too.
inputs_hash() {
  (
    cd "$root"
    {
      find gateway operator proto -type f \
        ! -path '*/test/*' ! -name '*.test.ts' ! -name README.md -print0 2>/dev/null
      printf '%s\0' package.json package-lock.json Containerfile .containerignore
    } | LC_ALL=C sort -z | xargs -0 sha256sum
    printf 'base %s\nbuild %s\n' "$base_image" "$build_image"
  ) | sha256sum | cut -c1-16
}
gateway_image="localhost/im-gateway:$(inputs_hash)"

if [[ ${1:-} == --print-ref ]]; then
  echo "$gateway_image"
  exit 0
fi
[[ $# -eq 0 ]] || die "usage: $0 [--print-ref]"
[[ $EUID -eq 0 ]] || die "run as root"
if ! command -v podman >/dev/null || ! command -v mmdebstrap >/dev/null; then
  die "podman and mmdebstrap are missing: run 'bash e2e/infra/setup.sh' first"
fi

# shellcheck source=SCRIPTDIR/../infra/debian.sh
source "$here/../infra/debian.sh"

build_base() {
  local tar="$work/rootfs-$$.tar" logfile="$work/im-node-build.log" sources
  sources="$(debian_sources)"
  log "building $base_image: Debian $suite minbase + Node $node_version (log: $logfile)"
  # libstdc++6 and libgcc-s1 are what the Node binary links beyond libc; minbase
  # has them through apt, named here so the image does not depend on that.
  # shellcheck disable=SC2016 # mmdebstrap sets $1 to the chroot.
  # The merged-usr hook sets up the merged /usr itself; without it bookworm's
  # minbase pulls in usrmerge and with it ~50 MB of Perl.
  mmdebstrap --quiet --mode=root --variant=minbase \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --include=ca-certificates,libstdc++6,libgcc-s1 \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --customize-hook="upload $node_bin /usr/local/bin/node" \
    --customize-hook='chmod 755 "$1/usr/local/bin/node"' \
    --customize-hook='chroot "$1" node --version >/dev/null' \
    "$suite" "$tar" ${sources:+"$sources"} >"$logfile" 2>&1 || {
      rm -f "$tar"
      tail -n 40 "$logfile" >&2
      die "mmdebstrap failed; full log in $logfile"
    }
  podman import --quiet \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$node_version" \
    --change 'CMD ["node"]' \
    "$tar" "$base_image" >/dev/null
  rm -f "$tar"
}

build_build_base() {
  local ctx="$work/build-base-$$"
  log "building $build_image: $base_image + npm $npm_version"
  mkdir -p "$ctx"
  cp -a "$npm_home" "$ctx/npm"
  cat > "$ctx/Containerfile" <<EOF
FROM $base_image
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && npm --version >/dev/null
EOF
  podman build --quiet --pull=never --network=none --tag "$build_image" "$ctx" >/dev/null
  rm -rf "$ctx"
}

build_gateway() {
  local args=() logfile="$work/im-gateway-build.log"
  [[ -s $ca_file ]] && args+=(--secret "id=extra_ca,src=$ca_file")
  log "building $gateway_image (log: $logfile)"
  # --network=host: `npm ci` reaches the registry as the host does (its DNS and
  # proxy), and no bridge network is set up for a build.
  if ! podman build --pull=never --network=host \
      --build-arg "BASE_IMAGE=$base_image" --build-arg "BUILD_IMAGE=$build_image" \
      --label "im-gateway-fleet.inputs=${gateway_image##*:}" \
      "${args[@]}" --file "$root/Containerfile" --tag "$gateway_image" "$root" >"$logfile" 2>&1; then
    tail -n 40 "$logfile" >&2
    die "podman build failed; full log in $logfile"
  fi
}

# Keeps the newest few im-gateway images: every source change makes one.
prune_old() {
  local refs ref
  # Newest first; the current image is not counted among those kept.
  mapfile -t refs < <(podman images --filter reference=localhost/im-gateway --sort created \
    --format '{{.Repository}}:{{.Tag}}' | grep -vxF "$gateway_image" || true)
  for ref in "${refs[@]:keep_gateway_images-1}"; do
    # An image a container still uses stays; the next run tries again.
    if podman rmi "$ref" >/dev/null 2>&1; then log "removed old $ref"; fi
  done
}

main() {
  # Concurrent runs would build the same images twice.
  mkdir -p "$work"
  exec 9>"$work/.lock"
  flock 9
  image_exists "$base_image" || build_base
  image_exists "$base_alias" || podman tag "$base_image" "$base_alias"
  image_exists "$build_image" || build_build_base
  if ! image_exists "$gateway_image"; then
    build_gateway
    prune_old
  fi
  echo "$gateway_image" > "$work/im-gateway.ref"
  log "image: $gateway_image ($(podman image inspect --format '{{.Size}}' "$gateway_image" | numfmt --to=si)B)"
  echo "export IMGW_GATEWAY_IMAGE=$gateway_image"
}

main
