# Shared by the scripts in scripts/: install what the build and the tests need, when it is missing.
# Sourced, not executed.

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the Debian packages named as arguments that are missing.
install_debian_packages() {
  local missing=()
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# Debian packages the build needs: the system OpenSSL (TLS), zlib (permessage-deflate) and nghttp2 (HTTP/2), with
# pkg-config to find them, and the openssl command that the TLS tests use to make certificates.
install_system_packages() {
  install_debian_packages libssl-dev zlib1g-dev libnghttp2-dev pkg-config openssl
}

# Debian's Chromium and Firefox ESR (with certutil, to trust the test CA in a Firefox profile), for the browser tests
# (BrowserOriginTests, HTTP2BrowserTests). Best effort: where one cannot be installed, its tests are skipped and say
# why.
install_browser() {
  install_debian_packages chromium || echo "chromium could not be installed: its browser tests will be skipped" >&2
  install_debian_packages firefox-esr libnss3-tools ||
    echo "firefox-esr could not be installed: its browser test will be skipped" >&2
}

# Debian's tinyproxy (HTTP CONNECT) and microsocks (SOCKS5): the proxies the client's proxy tests start on loopback
# ports of their own; nghttpx (nghttp2-proxy), which speaks RFC 8441 to its HTTP/2 backends; curl for HTTP/2 requests.
install_proxies() {
  install_debian_packages tinyproxy microsocks nghttp2-proxy curl
}

# Debian's redis-server: the fan-out tests start it on loopback ports of their own (issue 19). Installing it may
# also start Debian's own instance on 6379; the tests never use that one.
install_redis() {
  install_debian_packages redis-server
}

# Node with Debian's `ws` package (node-ws, in /usr/share/nodejs): an independent peer for the interop tests.
install_node_interop() {
  install_debian_packages nodejs node-ws
}

# Builds, failing on any warning in the project's own sources (zero warnings is a project rule).
build_without_warnings() {
  local log
  log=$(mktemp)
  if ! swift build "$@" 2>&1 | tee "$log"; then
    rm -f "$log"
    return 1
  fi
  if grep -E "^$(pwd)/(Sources|Tests)/.*warning:" "$log" >/dev/null; then
    echo "error: the build has warnings (zero warnings is a project rule):" >&2
    grep -E "^$(pwd)/(Sources|Tests)/.*warning:" "$log" | sort -u >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# Python's `websockets` and `h2` (PyPI), independent peers for the interop tests (h2: an HTTP/2 client for RFC 8441),
# in .venv (git-ignored).
install_python_interop() {
  local version=17.4 h2_version=4.4.1
  if [ -x .venv/bin/python ] && .venv/bin/python -c "import websockets, h2, sys; sys.exit(websockets.__version__ != '$version' or h2.__version__ != '$h2_version')" 2>/dev/null; then
    return
  fi
  if ! python3 -m venv --help >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  fi
  echo "installing Python websockets $version and h2 $h2_version into .venv" >&2
  python3 -m venv .venv
  .venv/bin/pip install -q "websockets==$version" "h2==$h2_version"
}
