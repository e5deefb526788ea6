# Sourced by the install-*.sh scripts: install_debian_package NAME WHY installs one of
# Debian's packages as root or through password-less sudo, and returns 1 (having
# installed nothing) when this user can do neither.
install_debian_package() {
    local name=$1 why=$2 as_root
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        return 1
    fi
    echo "installing Debian's $name $why" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends "$name" >/dev/null
}
