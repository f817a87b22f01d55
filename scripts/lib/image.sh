# Builds the systemd base image for test and demo containers with debootstrap, only when its
# recipe (the build script, the package list, the machine's extra CA certificates) changed.
# shellcheck shell=bash

IMAGE_RECIPE_DIR="$REPO_ROOT/tests/images/debian12"
IMAGE_REPO="localhost/ai4artsed-debian12"
# Every scenario and the demo use this tag; build_base_image moves it to the newest build.
BASE_IMAGE="$IMAGE_REPO:current"
export BASE_IMAGE

# The first Debian mirror this machine's own apt sources name, so no host is written into the repo.
debian_mirror() {
  local uri
  uri="$(grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
    awk '{print $2}' | grep -v security | head -n1)"
  [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list*; set AI4ARTSED_DEBIAN_MIRROR"
  echo "${AI4ARTSED_DEBIAN_MIRROR:-$uri}"
}

recipe_hash() {
  {
    cat "$IMAGE_RECIPE_DIR"/build-rootfs.sh "$IMAGE_RECIPE_DIR"/packages.txt
    cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true
  } | sha256sum | cut -c1-16
}

ensure_base_image() {
  local tag rootfs
  tag="$IMAGE_REPO:$(recipe_hash)"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    docker tag "$tag" "$BASE_IMAGE"
    return 0
  fi
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  rootfs="$(mktemp -d /var/tmp/ai4artsed-rootfs.XXXXXX)"
  log "Building base image $tag with debootstrap (about 2 minutes, once per recipe change)"
  bash "$IMAGE_RECIPE_DIR/build-rootfs.sh" "$rootfs" "$(debian_mirror)" "$IMAGE_RECIPE_DIR/packages.txt"
  tar -C "$rootfs" -c . | docker import -c 'CMD ["/lib/systemd/systemd"]' - "$tag" >/dev/null
  rm -rf --one-file-system "$rootfs"
  docker tag "$tag" "$BASE_IMAGE"
}
