# Shared helpers for the scripts in scripts/. Source this file; do not run it.
# shellcheck shell=bash

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV_DIR="${AI4ARTSED_VENV:-$REPO_ROOT/.venv}"
# Where the collection is made visible as ai4artsed.devserver (see link_collection).
COLLECTIONS_DIR="$REPO_ROOT/.collections"
export REPO_ROOT VENV_DIR COLLECTIONS_DIR

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

require_root() {
  [ "$(id -u)" -eq 0 ] || die "$1 needs root (it installs Debian packages and talks to the Docker engine). Run it with sudo."
}

# Put the venv's tools first on PATH and point Ansible at this checkout's config and collections.
use_venv() {
  export PATH="$VENV_DIR/bin:$PATH"
  export ANSIBLE_CONFIG="$REPO_ROOT/ansible.cfg"
}
