#!/usr/bin/env bash
# A private Docker engine for building and testing the submission image.
#
#   container/engine.sh install   apt-get the engine (docker.io) and debootstrap, if missing
#   container/engine.sh start     start dockerd unless an engine already answers; prints DOCKER_HOST=...
#   container/engine.sh stop      stop the engine this script started (by its own pid file)
#   container/engine.sh status    prints DOCKER_HOST=... if this script's engine answers, else exit 1
#
# The engine keeps its state under $RA2_ENGINE_DIR (default /var/lib/ra2-engine) and
# listens on $RA2_ENGINE_DIR/docker.sock, so it never disturbs a system engine.  Networking
# is reduced to what image builds need (--network host) and what the test uses
# (--network none): no iptables rules, no bridge.  Every step is idempotent, so CI can
# call install and start unconditionally.
set -euo pipefail

ENGINE_DIR=${RA2_ENGINE_DIR:-/var/lib/ra2-engine}
SOCK="$ENGINE_DIR/docker.sock"
PIDFILE="$ENGINE_DIR/dockerd.pid"
LOG="$ENGINE_DIR/dockerd.log"

say() { echo "engine.sh: $*" >&2; }

need_root() {
    if [ "$(id -u)" != 0 ]; then
        say "must run as root to $1"; exit 1
    fi
}

engine_answers() {
    # true when an engine answers on DOCKER_HOST (if set) or on our own socket
    local host=${1:-}
    if [ -n "$host" ]; then
        DOCKER_HOST=$host docker version --format '{{.Server.Version}}' >/dev/null 2>&1
    else
        docker version --format '{{.Server.Version}}' >/dev/null 2>&1
    fi
}

cmd_install() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    if [ ${#missing[@]} -eq 0 ]; then
        say "dockerd and debootstrap already installed"; return 0
    fi
    need_root "install ${missing[*]}"
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # docker.io brings its own client; a client already on PATH (newer) is kept
    command -v docker >/dev/null 2>&1 || { say "no docker client after install"; exit 1; }
}

cmd_start() {
    if [ -S "$SOCK" ] && engine_answers "unix://$SOCK"; then
        echo "DOCKER_HOST=unix://$SOCK"; return 0
    fi
    need_root "start dockerd"
    command -v dockerd >/dev/null 2>&1 || { say "dockerd not installed: run '$0 install'"; exit 1; }
    mkdir -p "$ENGINE_DIR/data" "$ENGINE_DIR/exec"
    rm -f "$SOCK" "$PIDFILE"
    # setsid: the engine outlives the shell that started it, and is killed only by its pid
    setsid dockerd \
        --data-root "$ENGINE_DIR/data" --exec-root "$ENGINE_DIR/exec" \
        --pidfile "$PIDFILE" -H "unix://$SOCK" \
        --storage-driver overlay2 --iptables=false --ip6tables=false --bridge=none \
        >"$LOG" 2>&1 </dev/null &
    local _
    for _ in $(seq 1 60); do
        if [ -S "$SOCK" ] && engine_answers "unix://$SOCK"; then
            say "engine up (pid $(cat "$PIDFILE")), log $LOG"
            echo "DOCKER_HOST=unix://$SOCK"; return 0
        fi
        sleep 1
    done
    say "dockerd did not answer within 60 s; last lines of $LOG:"
    tail -n 20 "$LOG" >&2
    exit 1
}

cmd_stop() {
    if [ ! -f "$PIDFILE" ]; then
        say "no engine started by this script"; return 0
    fi
    local pid
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        local _
        for _ in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 1
        done
        kill -0 "$pid" 2>/dev/null && { say "dockerd $pid still running after 30 s"; exit 1; }
    fi
    rm -f "$PIDFILE"
    # dockerd leaves its default network namespace mounted; unmount what is left under our folder
    # so that the folder can be removed
    awk -v d="$ENGINE_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
        umount "$m" 2>/dev/null || say "could not unmount $m"
    done
    say "engine stopped"
}

cmd_status() {
    if [ -S "$SOCK" ] && engine_answers "unix://$SOCK"; then echo "DOCKER_HOST=unix://$SOCK"; return 0; fi
    say "no engine answers on $SOCK"; return 1
}

case "${1:-}" in
    install) cmd_install ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
