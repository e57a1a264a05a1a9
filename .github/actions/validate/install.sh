#!/usr/bin/env bash
# The action's install step: put `devops-agent` on the job's PATH.
#
# * DEVOPS_AGENT_REF set: build it from that source (a directory, or a git URL).
# * Else, on Linux x86_64/aarch64: download the release DEVOPS_AGENT_VERSION of
#   DEVOPS_AGENT_REPOSITORY (its static musl binary), check the archive against the release's
#   SHA256SUMS (and DEVOPS_AGENT_SHA256 when given), and unpack it under RUNNER_TEMP.
# * Else, or when the release has no archive for this runner: `cargo install --locked` from the
#   repository's git at that tag (needs a Rust toolchain on the runner).
#
# A checksum that does not match stops the job: that is never a reason to fall back.
set -euo pipefail

version=${DEVOPS_AGENT_VERSION:?the version input is empty}
repository=${DEVOPS_AGENT_REPOSITORY:?the repository input is empty}
server=${GITHUB_SERVER_URL:?GITHUB_SERVER_URL is not set}
ref=${DEVOPS_AGENT_REF:-}
want_sha=${DEVOPS_AGENT_SHA256:-}
bin_dir="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/devops-agent-$version"

from_source() {
  if ! command -v cargo >/dev/null; then
    echo "::error::building devops-agent from source needs Rust on the runner (e.g. dtolnay/rust-toolchain)"
    exit 1
  fi
  cargo install --locked "$@" devops-agent
}

if [ -n "$ref" ]; then
  if [ -d "$ref" ]; then
    from_source --path "$ref"
  else
    from_source --git "$ref"
  fi
  exit 0
fi

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64 | Linux-amd64) target=x86_64-unknown-linux-musl ;;
  Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
  *) target="" ;;
esac

if [ -n "$target" ]; then
  name="devops-agent-$version-$target"
  base="$server/$repository/releases/download/$version"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  if curl -fsSL --retry 3 -o "$work/$name.tar.gz" "$base/$name.tar.gz" \
    && curl -fsSL --retry 3 -o "$work/SHA256SUMS" "$base/SHA256SUMS"; then
    listed=$(awk -v file="$name.tar.gz" '$2 == file || $2 == "*" file { print $1 }' "$work/SHA256SUMS")
    actual=$(sha256sum "$work/$name.tar.gz" | cut -d ' ' -f 1)
    if [ -z "$listed" ]; then
      echo "::error::SHA256SUMS of $repository $version does not list $name.tar.gz"
      exit 1
    fi
    if [ "$actual" != "$listed" ]; then
      echo "::error::$name.tar.gz has SHA-256 $actual, SHA256SUMS says $listed: not installing it"
      exit 1
    fi
    if [ -n "$want_sha" ] && [ "$actual" != "$want_sha" ]; then
      echo "::error::$name.tar.gz has SHA-256 $actual, the sha256 input says $want_sha: not installing it"
      exit 1
    fi
    mkdir -p "$bin_dir"
    tar -xzf "$work/$name.tar.gz" -C "$work"
    install -m 755 "$work/$name/devops-agent" "$bin_dir/devops-agent"
    echo "$bin_dir" >> "${GITHUB_PATH:?GITHUB_PATH is not set}"
    "$bin_dir/devops-agent" --version
    exit 0
  fi
  echo "::notice::no $name release archive at $base; building devops-agent $version from source"
else
  echo "::notice::no release binary for $(uname -s) $(uname -m); building devops-agent $version from source"
fi
from_source --git "$server/$repository" --tag "$version"
