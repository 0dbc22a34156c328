#!/usr/bin/env bash
# Builds the control-plane tools of the e2e suite from Go modules: helm,
# etcd, kube-apiserver and kube-controller-manager, at the versions in
# versions.env. Each goes to a cache outside the repository, keyed by version:
#   $IMGW_CACHE_DIR/helm/<version>/bin/helm
#   $IMGW_CACHE_DIR/etcd/<version>/bin/etcd
#   $IMGW_CACHE_DIR/k8s/<version>/bin/{kube-apiserver,kube-controller-manager}
# Idempotent: a warm run only checks that the binaries exist. Run as root.
#
# Usage: build-tools.sh [helm|etcd|k8s]...   (default: all, helm first)
# Prints one `export NAME=PATH` line per tool on stdout as soon as it exists,
# so `eval "$(bash e2e/k8s/build-tools.sh)"` sets IMGW_HELM, IMGW_ETCD,
# IMGW_KUBE_APISERVER and IMGW_KUBE_CONTROLLER_MANAGER. Logs go to stderr.
#
# Environment: IMGW_CACHE_DIR (/var/cache/im-gateway-fleet); IMGW_K8S_VERSION,
# IMGW_HELM_VERSION, IMGW_ETCD_VERSION override versions.env; GO names the go
# command (default: go on PATH, else /usr/local/go/bin/go).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
overrides=("${IMGW_K8S_VERSION:-}" "${IMGW_HELM_VERSION:-}" "${IMGW_ETCD_VERSION:-}")
# shellcheck source=SCRIPTDIR/versions.env
source "$here/versions.env"
k8s_version="${overrides[0]:-$IMGW_K8S_VERSION}"
helm_version="${overrides[1]:-$IMGW_HELM_VERSION}"
etcd_version="${overrides[2]:-$IMGW_ETCD_VERSION}"
cache="${IMGW_CACHE_DIR:-/var/cache/im-gateway-fleet}"

helm_bin="$cache/helm/$helm_version/bin/helm"
etcd_bin="$cache/etcd/$etcd_version/bin/etcd"
apiserver_bin="$cache/k8s/$k8s_version/bin/kube-apiserver"
kcm_bin="$cache/k8s/$k8s_version/bin/kube-controller-manager"

log() { printf '[k8s-tools] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

built() {
  case "$1" in
    helm) [[ -x $helm_bin ]] ;;
    etcd) [[ -x $etcd_bin ]] ;;
    k8s) [[ -x $apiserver_bin && -x $kcm_bin ]] ;;
  esac
}

print_paths() {
  case "$1" in
    helm) echo "export IMGW_HELM=$helm_bin" ;;
    etcd) echo "export IMGW_ETCD=$etcd_bin" ;;
    k8s) echo "export IMGW_KUBE_APISERVER=$apiserver_bin"
         echo "export IMGW_KUBE_CONTROLLER_MANAGER=$kcm_bin" ;;
  esac
}

# One toolchain setup for every build: the machine's own Go (never a
# downloaded toolchain), static binaries, and module and build caches that
# persist across runs so a rebuild after a version bump is incremental.
go_env() {
  go="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
  [[ -x $go ]] || die "no go command (set GO=/path/to/go)"
  local v minor
  v="$(GOTOOLCHAIN=local "$go" env GOVERSION)"
  minor="$(sed -n 's/^go1\.\([0-9]*\).*/\1/p' <<<"$v")"
  [[ -n $minor && $minor -ge 26 ]] || die "Go 1.26 or newer is needed, found $v"
  export GOTOOLCHAIN=local GOWORK=off CGO_ENABLED=0
  export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build"
  export GOFLAGS="-trimpath -mod=mod -buildvcs=false"
  mkdir -p "$GOMODCACHE" "$GOCACHE"
}

# Runs go in DIR with its output in DIR/build.log, shown only on failure.
run_go() {
  local dir="$1"; shift
  if ! (cd "$dir" && "$go" "$@") >>"$dir/build.log" 2>&1; then
    tail -n 40 "$dir/build.log" >&2
    die "go $1 failed; full log in $dir/build.log"
  fi
}

# A throwaway main module that requires MODULE@VERSION, in a fresh DIR.
wrapper_module() {
  local dir="$1" module="$2" version="$3"
  rm -rf "$dir" && mkdir -p "$dir"
  printf 'module imgw.local/tools-build\n\ngo 1.26.0\n' >"$dir/go.mod"
  run_go "$dir" mod edit -require="$module@$version"
}

# Builds PACKAGES into OUT_DIR (staged, then moved, so a binary that exists
# is complete). Usage: go_build DIR OUT_DIR LDFLAGS PACKAGES...
go_build() {
  local dir="$1" out="$2" ldflags="$3"; shift 3
  local stage="$dir/out" pkg
  mkdir -p "$stage" "$out"
  run_go "$dir" build -ldflags="$ldflags" -o "$stage/" "$@"
  for pkg in "$@"; do mv -f "$stage/${pkg##*/}" "$out/"; done
}

build_helm() {
  local dir="$cache/helm/$helm_version/src" client_go cmajor cminor
  log "building helm $helm_version"
  wrapper_module "$dir" helm.sh/helm/v3 "$helm_version"
  # As helm's Makefile does: the default Kubernetes version that `helm
  # template` and `helm lint` assume follows the client-go it is built with.
  client_go="$(cd "$dir" && "$go" list -m -f '{{.Version}}' k8s.io/client-go 2>>"$dir/build.log")" ||
    die "cannot resolve helm's client-go; see $dir/build.log"
  IFS=. read -r cmajor cminor _ <<<"${client_go#v}"
  local major=$(( cmajor + 1 )) minor="$cminor"
  go_build "$dir" "${helm_bin%/*}" "-s -w \
    -X helm.sh/helm/v3/internal/version.version=$helm_version \
    -X helm.sh/helm/v3/internal/version.metadata= \
    -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=$major \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$minor \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=$major \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$minor" \
    helm.sh/helm/v3/cmd/helm
}

build_etcd() {
  local dir="$cache/etcd/$etcd_version/src"
  log "building etcd $etcd_version"
  wrapper_module "$dir" go.etcd.io/etcd/server/v3 "$etcd_version"
  # The server module's root package is etcd's main; name the binary etcd.
  run_go "$dir" build -ldflags="-s -w" -o "$dir/etcd" go.etcd.io/etcd/server/v3
  mkdir -p "${etcd_bin%/*}" && mv -f "$dir/etcd" "$etcd_bin"
}

build_k8s() {
  local dir="$cache/k8s/$k8s_version/src" gomod staging=() m edits=() flags="-s -w" key
  local minor patch
  IFS=. read -r _ minor patch <<<"${k8s_version#v}"
  log "building kube-apiserver and kube-controller-manager $k8s_version"
  wrapper_module "$dir" k8s.io/kubernetes "$k8s_version"
  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces
  # them with ./staging/src/...; a dependency's replaces do not apply, so
  # map each to its published release v0.MINOR.PATCH.
  gomod="$(cd "$dir" && "$go" mod download -json "k8s.io/kubernetes@$k8s_version" 2>>"$dir/build.log" |
    sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
  [[ -f $gomod ]] || die "cannot fetch k8s.io/kubernetes@$k8s_version; see $dir/build.log"
  mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/src/.*#\1#p' "$gomod")
  [[ ${#staging[@]} -gt 0 ]] || die "no staging modules in $gomod"
  for m in "${staging[@]}"; do edits+=("-replace=$m=$m@v0.$minor.$patch"); done
  run_go "$dir" mod edit "${edits[@]}"
  # What hack/lib/version.sh stamps, so the binaries report their version
  # (the apiserver derives its emulation and compatibility versions from it).
  for key in "gitVersion=$k8s_version" gitMajor=1 "gitMinor=$minor" gitTreeState=clean; do
    flags+=" -X k8s.io/component-base/version.$key -X k8s.io/client-go/pkg/version.$key"
  done
  # One go build for both: they share most packages.
  go_build "$dir" "${apiserver_bin%/*}" "$flags" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
}

main() {
  local tools=("$@") tool start
  [[ ${#tools[@]} -gt 0 ]] || tools=(helm etcd k8s)
  for tool in "${tools[@]}"; do
    case "$tool" in helm|etcd|k8s) ;; *) die "unknown tool '$tool' (helm, etcd, k8s)" ;; esac
  done
  # Warm path: nothing to build, no lock, no go command.
  local missing=()
  for tool in "${tools[@]}"; do
    if built "$tool"; then print_paths "$tool"; else missing+=("$tool"); fi
  done
  [[ ${#missing[@]} -eq 0 ]] && return

  [[ $EUID -eq 0 ]] || die "run as root"
  mkdir -p "$cache"
  # Concurrent runs would build the same tools twice.
  exec 8>"$cache/k8s-tools.lock"
  flock 8
  go_env
  for tool in "${missing[@]}"; do
    if ! built "$tool"; then
      start=$SECONDS
      "build_$tool"
      log "$tool built in $(( SECONDS - start )) s"
    fi
    print_paths "$tool"
  done
}

main "$@"
