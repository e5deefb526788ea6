#!/usr/bin/env bash
# What the engine test (tests/integration/repository/test_docker_engine.py) needs:
#   - a Docker engine: Debian's docker.io, installed without starting its daemon (the
#     test starts dockerd itself, as root, when none answers);
#   - debootstrap, for a stand-in base image where the Dockerfile's cannot be pulled;
#   - the compose command (`docker compose`): where the client has none, Docker's
#     compose v2 plugin built from the Go module proxy into the user's cli-plugins.
# Where this user can install none of it, says so; the engine test then skips.
set -euo pipefail
source "$(dirname "$0")/debian-package.sh"

# The newest compose that builds with Go 1.26.8 (Debian has only the old docker-compose 1).
COMPOSE_MODULE=github.com/docker/compose/v5
COMPOSE_VERSION=v5.6.0
PLUGIN="${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins/docker-compose"

engine_can_be_had() {
    command -v dockerd >/dev/null 2>&1 ||
        { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; } ||
        install_debian_package docker.io "for the engine test" stopped
}

build_compose_plugin() {
    local source
    if ! command -v go >/dev/null 2>&1; then
        echo "docker compose is missing and Go is not installed to build it:" \
             "the engine test will skip" >&2
        return 0
    fi
    echo "building docker compose $COMPOSE_VERSION from the Go module proxy into $PLUGIN" >&2
    source=$(go mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION" |
        sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    mkdir -p "$(dirname "$PLUGIN")"
    go build -C "$source" -trimpath -o "$PLUGIN.partial" \
        -ldflags "-X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" ./cmd
    mv "$PLUGIN.partial" "$PLUGIN"
}

if ! engine_can_be_had; then
    echo "no Docker engine and this user cannot install Debian packages:" \
         "the engine test will skip (install the 'docker.io' package to run it)" >&2
    exit 0
fi
command -v debootstrap >/dev/null 2>&1 ||
    install_debian_package debootstrap "for the engine test's stand-in base image" ||
    echo "debootstrap is missing: where the base image cannot be pulled, the engine test skips" >&2
docker compose version >/dev/null 2>&1 || build_compose_plugin
