# Builds the Python venv with the pinned controller and development packages.
# shellcheck shell=bash

# Any python3 from 3.11 on will do: Debian 12's own is 3.11.
find_python() {
  local candidate
  for candidate in "${AI4ARTSED_PYTHON:-}" python3.11 python3.12 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_venv() {
  local stamp="$VENV_DIR/.requirements.sha256" want python
  # Every file requirements-dev.txt includes counts: a changed pin rebuilds the venv.
  want="$(cat "$REPO_ROOT"/requirements.txt "$REPO_ROOT"/requirements-dev.txt \
    "$REPO_ROOT"/roles/hf_client/files/requirements.txt | sha256sum | cut -d' ' -f1)"
  if [ -x "$VENV_DIR/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  if ! python="$(find_python)"; then
    log "Installing python3-venv from Debian"
    apt_install python3 python3-venv
    python="$(find_python)" || die "no Python 3.11 or newer with venv found; install python3 (>= 3.11) and python3-venv"
  fi
  log "Creating the venv in $VENV_DIR with $python (pinned packages from requirements-dev.txt)"
  "$python" -m venv --clear "$VENV_DIR"
  "$VENV_DIR/bin/python" -m pip install --quiet --upgrade pip
  "$VENV_DIR/bin/python" -m pip install --quiet -r "$REPO_ROOT/requirements-dev.txt"
  echo "$want" >"$stamp"
}

# apt-get install, updating the package lists once per run. Only root may; anyone else is told what to run.
apt_install() {
  [ "$(id -u)" -eq 0 ] || die "this needs $* from Debian, which only root can install: sudo apt-get install $*"
  if [ -z "${__APT_UPDATED:-}" ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    __APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# Make this checkout importable as ansible_collections.ai4artsed.devserver, so that FQCNs
# such as ai4artsed.devserver.free_space resolve when playbooks run from the clone.
link_collection() {
  local link="$COLLECTIONS_DIR/ansible_collections/ai4artsed/devserver"
  mkdir -p "$(dirname "$link")"
  [ "$(readlink "$link" 2>/dev/null)" = "$REPO_ROOT" ] || ln -sfn "$REPO_ROOT" "$link"
}
