# Shared by install/demo.sh and install/test.sh (sourced, not run): find Python 3.11+, create .venv, install a
# requirements file into it once (a stamp of the files' hash makes reruns skip it), and make sure mysqlclient
# can be compiled when pip has to build it.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
VENV_PYTHON="$VENV/bin/python"
MYSQLCLIENT_DEB_PACKAGES=(default-libmysqlclient-dev pkg-config build-essential)

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The first Python 3.11+ found: $PYTHON if set, else python3.13 .. python3.11, python3, python.
find_python() {
    local candidate
    for candidate in ${PYTHON:-} python3.13 python3.12 python3.11 python3 python; do
        if command -v "$candidate" >/dev/null 2>&1 \
                && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# apt-get install as root, or print the exact command for the user and stop.
apt_install_or_explain() {
    local why="$1"; shift
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing $* ($why)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    else
        die "$why. Run: sudo apt-get install -y $*   (then rerun this script)"
    fi
}

# Create .venv with Python 3.11+ unless a working one is there.
ensure_venv() {
    if [ -x "$VENV_PYTHON" ] && "$VENV_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        return 0
    fi
    local python
    python="$(find_python)" || die "Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11 if it is elsewhere)"
    say "creating .venv with $python ($("$python" -V 2>&1))"
    rm -rf "$VENV"
    if ! "$python" -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        local minor
        minor="$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        apt_install_or_explain "$python cannot create virtual environments" "python${minor}-venv"
        "$python" -m venv "$VENV" || die "could not create .venv with $python"
    fi
}

# mysqlclient has no Linux wheel: pip compiles it, which needs a C compiler, Python's headers and the
# MySQL/MariaDB client library found through mysql_config or pkg-config.
ensure_mysqlclient_build_deps() {
    if "$VENV_PYTHON" -c 'import MySQLdb' 2>/dev/null; then
        return 0
    fi
    local missing=()
    if ! command -v mysql_config >/dev/null 2>&1 && ! { command -v pkg-config >/dev/null 2>&1 \
            && { pkg-config --exists mysqlclient || pkg-config --exists libmariadb || pkg-config --exists mariadb; }; }; then
        missing+=(default-libmysqlclient-dev pkg-config)
    fi
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    command -v cc >/dev/null 2>&1 || missing+=(build-essential)
    local include
    include="$("$VENV_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" || include=''
    if [ -n "$include" ] && [ ! -f "$include/Python.h" ]; then
        missing+=("$("$VENV_PYTHON" -c 'import sys; print(f"python{sys.version_info[0]}.{sys.version_info[1]}-dev")')")
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        # Always ask for the whole documented set, so one command fixes everything.
        local packages=("${MYSQLCLIENT_DEB_PACKAGES[@]}")
        local package
        for package in "${missing[@]}"; do
            case " ${packages[*]} " in *" $package "*) ;; *) packages+=("$package") ;; esac
        done
        apt_install_or_explain "building mysqlclient needs the MySQL client headers and a compiler" "${packages[@]}"
    fi
}

# pip install -r FILE into .venv unless these exact files were installed before (the stamp holds their hash).
install_requirements() {
    local file="$1"; shift
    local stamp="$VENV/.installed-$(basename "$file").sha256"
    local digest
    digest="$(cd "$ROOT" && cat "$file" "$@" | "$VENV_PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())')"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$digest" ]; then
        say "$file already installed in .venv"
        return 0
    fi
    ensure_mysqlclient_build_deps
    say "installing $file into .venv"
    "$VENV_PYTHON" -m pip install --quiet --disable-pip-version-check -r "$ROOT/$file" \
        || die "pip could not install $file"
    echo "$digest" > "$stamp"
}
