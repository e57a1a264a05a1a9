#!/usr/bin/env bash
# Print one version's section of CHANGELOG.md (Keep a Changelog format) without its heading:
# the release notes of that version. `scripts/changelog-section.sh 0.1.0` or `… Unreleased`.
# Exits 1, saying why on stderr, when the changelog has no such section or it is empty.
set -euo pipefail
version=${1:?usage: changelog-section.sh VERSION}
changelog=${CHANGELOG:-"$(dirname "$0")/../CHANGELOG.md"}
# A section runs from its `## [VERSION]` heading to the next `## ` heading or the link
# references at the end of the file.
section=$(awk -v version="$version" '
  /^## / {
    if (found) exit
    heading = $0
    sub(/^## +\[?/, "", heading)
    sub(/[] ].*$/, "", heading)
    if (heading == version) found = 1
    next
  }
  found && /^\[[^]]+\]: / { exit }
  found { print }
' "$changelog")
# Command substitution drops trailing newlines; drop the leading blank lines too.
section=$(printf '%s\n' "$section" | sed -e '/[^[:space:]]/,$!d')
if [ -z "$section" ]; then
  echo "changelog-section.sh: $changelog has no section for $version (or it is empty)" >&2
  exit 1
fi
printf '%s\n' "$section"
