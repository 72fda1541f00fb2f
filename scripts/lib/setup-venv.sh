# shellcheck shell=bash
# Shared set-up for scripts/run-reports, scripts/schedule-reports and scripts/test.
#
# Source this file from the repository root, then call:
#     setup_venv            # the project alone
#     setup_venv test       # the project with its [test] extras
#
# It finds a Python 3.11+, creates .venv when it is missing (or unusable),
# installs the exact versions of the lock file (requirements.txt, or
# requirements-test.txt with the test extras; every file checked against its
# hash), then the project itself in editable mode without resolving anything
# again. The install is skipped when a stamp file .venv/.installed-<sha256 of
# pyproject.toml, the lock file and the extras> says it was already done, so
# repeated runs start fast. pip's output is kept in .venv/pip-install.log and
# shown only when the install fails.
#
# PYTHON=/path/to/python3.x chooses the interpreter used to create .venv.

VENV_DIR=.venv
VENV_MIN_PYTHON="3.11"
_VENV_VERSION_CHECK='import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'

_venv_die() {
    echo "error: $*" >&2
    exit 1
}

# Print the first interpreter on PATH that is Python 3.11 or newer.
# pyenv shims for versions that are not installed fail the check and are skipped.
_venv_find_python() {
    local candidate
    for candidate in ${PYTHON:+"$PYTHON"} python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 \
            && "$candidate" -c "$_VENV_VERSION_CHECK" >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# True when .venv holds a working Python 3.11+ with pip.
_venv_is_usable() {
    [ -x "$VENV_DIR/bin/python" ] \
        && "$VENV_DIR/bin/python" -c "$_VENV_VERSION_CHECK" >/dev/null 2>&1 \
        && "$VENV_DIR/bin/python" -m pip --version >/dev/null 2>&1
}

_venv_no_venv_module() {
    rm -rf "$VENV_DIR"
    _venv_die "python3 -m venv is not available: install the system package python3-venv (Debian/Ubuntu: apt-get install python3-venv)"
}

_venv_create() {
    local python log
    if [ -e "$VENV_DIR" ]; then
        # Half-created (no bin/python, no pip) or made by a Python that is gone or too old.
        echo "Recreating $VENV_DIR (the existing one is incomplete or unusable)..." >&2
        rm -rf "$VENV_DIR"
    fi
    python=$(_venv_find_python) \
        || _venv_die "Python $VENV_MIN_PYTHON or newer is required, but none of python3.13, python3.12, python3.11, python3 on PATH is one"
    if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        _venv_no_venv_module
    fi
    echo "Creating $VENV_DIR with $python ($("$python" -c 'import platform; print(platform.python_version())'))..." >&2
    log=$(mktemp "${TMPDIR:-/tmp}/venv-create.XXXXXX")
    if ! "$python" -m venv "$VENV_DIR" >"$log" 2>&1; then
        if grep -qi 'ensurepip' "$log"; then
            rm -f "$log"
            _venv_no_venv_module
        fi
        tail -n 20 "$log" >&2
        rm -f "$log"
        rm -rf "$VENV_DIR"
        _venv_die "could not create $VENV_DIR with $python -m venv"
    fi
    rm -f "$log"
    if ! "$VENV_DIR/bin/python" -m pip --version >/dev/null 2>&1; then
        _venv_no_venv_module
    fi
}

# The stamp name for an install of the current pyproject.toml with the given extras.
_venv_stamp() {
    "$VENV_DIR/bin/python" - "$1" <<'PY'
import hashlib, sys
digest = hashlib.sha256()
lock = "requirements-test.txt" if sys.argv[1] == "test" else "requirements.txt"
for name in ("pyproject.toml", lock):
    with open(name, "rb") as fh:
        digest.update(fh.read())
digest.update(b"\0extras=" + sys.argv[1].encode())
print(".installed-" + digest.hexdigest())
PY
}

setup_venv() {
    local extras="${1:-}" lock stamp stamp_plain stamp_test accepted log s
    [ -f pyproject.toml ] || _venv_die "pyproject.toml not found in $(pwd)"

    _venv_is_usable || _venv_create

    stamp_plain=$(_venv_stamp "")
    stamp_test=$(_venv_stamp test)
    stamp=$(_venv_stamp "$extras")
    # An install with the test extras also satisfies a plain one.
    if [ -z "$extras" ]; then
        accepted="$stamp_plain $stamp_test"
    else
        accepted="$stamp"
    fi
    if [ -x "$VENV_DIR/bin/agreement-reports" ]; then
        for s in $accepted; do
            if [ -f "$VENV_DIR/$s" ]; then
                return 0
            fi
        done
    fi

    lock=requirements.txt
    if [ "$extras" = test ]; then
        lock=requirements-test.txt
    fi
    [ -f "$lock" ] || _venv_die "$lock not found: it pins every version the tests passed with"
    echo "Installing the locked versions ($lock) and the project into $VENV_DIR..." >&2
    log="$VENV_DIR/pip-install.log"
    if ! "$VENV_DIR/bin/python" -m pip install --disable-pip-version-check -q \
            --require-hashes -r "$lock" >"$log" 2>&1 \
        || ! "$VENV_DIR/bin/python" -m pip install --disable-pip-version-check -q \
            --no-deps -e . >>"$log" 2>&1; then
        echo "--- last lines of $log ---" >&2
        tail -n 30 "$log" >&2
        _venv_die "installing $lock and the project failed (full output in $log)"
    fi
    # Stamps of other pyproject.toml versions are stale now.
    for s in "$VENV_DIR"/.installed-*; do
        [ -e "$s" ] || continue
        case "$(basename "$s")" in
            "$stamp_plain" | "$stamp_test") ;;
            *) rm -f "$s" ;;
        esac
    done
    : >"$VENV_DIR/$stamp"
}
