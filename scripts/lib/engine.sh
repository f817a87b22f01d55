# Makes sure a Docker engine answers, installing and starting one when needed.
# shellcheck shell=bash

# /usr/local/bin may hold an older docker client that shadows Debian's; both speak to the same socket.
docker_answers() { docker info >/dev/null 2>&1; }

ensure_engine() {
  # The fleet scenario's containers install through a proxy on this machine (molecule/fleet/prepare.yml).
  # Debian's package starts its own proxy on port 8888 for everyone: the scenario runs its own, so stop that one.
  if ! command -v tinyproxy >/dev/null 2>&1; then
    apt_install tinyproxy
    { systemctl disable --now tinyproxy || service tinyproxy stop; } >/dev/null 2>&1 || true
  fi
  docker_answers && return 0
  if ! command -v dockerd >/dev/null 2>&1; then
    log "Installing the Docker engine and debootstrap from Debian's packages"
    apt_install docker.io debootstrap
  fi
  docker_answers && return 0
  # Without a bridge network: test containers use the host's network and only its loopback,
  # so no private address range is ever configured.
  log "Starting dockerd (no bridge network, no iptables rules); log in /var/log/ai4artsed-dockerd.log"
  nohup dockerd --bridge=none --iptables=false --ip6tables=false \
    >/var/log/ai4artsed-dockerd.log 2>&1 </dev/null &
  local waited=0
  until docker_answers; do
    sleep 1
    waited=$((waited + 1))
    [ "$waited" -lt 60 ] || die "dockerd did not answer within 60 s; see /var/log/ai4artsed-dockerd.log"
  done
}
