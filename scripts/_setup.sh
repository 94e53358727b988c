# Sourced by scripts/test and scripts/demo: create .venv and install corral with
# its development tools, once per change of pyproject.toml.
corral_setup() {
    local python=${PYTHON:-python3}
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "corral needs Python 3.11 or newer (found: $("$python" --version 2>&1))" >&2
        exit 1
    fi
    if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            apt-get update -qq && apt-get install -y -qq python3-venv
        else
            echo "python venv support is missing; install python3-venv" >&2
            exit 1
        fi
    fi
    [ -x .venv/bin/python ] || "$python" -m venv .venv
    local stamp=.venv/.corral-installed
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -e '.[dev]'
        touch "$stamp"
    fi
}

# What the tests use from the system: the shells whose completion scripts they load
# (tests/control/cli/test_completion.py), apparmor_parser, which compiles the AppArmor
# profiles corral writes (tests/sandbox/test_apparmor.py), etcd (tests/coordinate start
# their own on a free loopback port, never the package's system etcd on 2379, which they
# leave alone), and Debian's chromium with its driver, the headless browser the web
# dashboard's tests drive through Playwright (tests/control/web/; nothing is downloaded
# by Playwright). Installed with apt-get when we are root and it is there; otherwise
# those tests skip, saying what is missing.
corral_test_packages() {
    command -v zsh >/dev/null && command -v fish >/dev/null && command -v etcd >/dev/null \
        && [ -f /usr/share/apparmor-features/features ] \
        && command -v chromium >/dev/null && command -v chromedriver >/dev/null && return 0
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        local packages="zsh fish apparmor etcd-server chromium chromium-driver"
        apt-get install -y -qq -o DPkg::Lock::Timeout=300 $packages >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 \
                && apt-get install -y -qq -o DPkg::Lock::Timeout=300 $packages >/dev/null 2>&1; } \
            || echo "could not install $packages: the tests that use them will skip" >&2
    fi
}

