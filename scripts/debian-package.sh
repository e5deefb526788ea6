# Sourced by the install-*.sh scripts: install_debian_package NAME WHY [stopped] installs
# one of Debian's packages as root or through password-less sudo, and returns 1 (having
# installed nothing) when this user can do neither. With "stopped", a service the
# package would start at once (a server on every address) is kept from starting: the
# tests start their own, on loopback.
install_debian_package() {
    local name=$1 why=$2 stopped=${3:-} as_root policy=/usr/sbin/policy-rc.d made_policy="" status=0
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        return 1
    fi
    echo "installing Debian's $name $why${as_root:+ (through sudo: password-less sudo is allowed here)}" >&2
    export DEBIAN_FRONTEND=noninteractive
    if [ "$stopped" = stopped ] && [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# no service starts while a package installs\nexit 101\n' |
            "${as_root[@]}" tee "$policy" >/dev/null
        "${as_root[@]}" chmod 0755 "$policy"
        made_policy=1
    fi
    "${as_root[@]}" apt-get update -qq || status=$?
    [ "$status" -ne 0 ] ||
        "${as_root[@]}" apt-get install -y -qq --no-install-recommends "$name" >/dev/null || status=$?
    [ -z "$made_policy" ] || "${as_root[@]}" rm -f "$policy"
    return "$status"
}
