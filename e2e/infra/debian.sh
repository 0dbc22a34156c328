# Shared by the image build scripts (sourced, not run).

image_exists() { podman image exists "$1"; }

# The host's own Debian sources, so images follow its mirror and snapshot.
debian_sources() {
  local f
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
    [[ -s $f ]] && { echo "$f"; return; }
  done
}
