# Shared by scripts/demo and scripts/test: a virtual environment in .venv with gatewayd in it.
# Installs Debian packages it needs when it may (root, or sudo without a password).

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

apt_install() {
    # apt_install PACKAGE...: install the Debian packages that are missing, if we may.
    command -v dpkg-query >/dev/null || return 0
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
            || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! as_root true; then
        echo "note: not installing ${missing[*]} (needs root); tests that need them will skip" >&2
        return 0
    fi
    as_root apt-get update -qq >/dev/null || true
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_venv() {
    # ensure_venv EXTRAS: .venv with gatewayd installed (editable) with the given extras.
    if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        apt_install python3-venv
    fi
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$1"
}
