#!/usr/bin/env bash
# Paste the current `devops-agent --help` between the README's help markers (a test checks
# they agree).
set -euo pipefail
cd "$(dirname "$0")/.."
help=$(cargo run --quiet -- --help)
python3 - "$help" <<'PY'
import re, sys
help_text = sys.argv[1]
path = "README.md"
text = open(path).read()
block = "<!-- help:start -->\n```text\n" + help_text.rstrip() + "\n```\n<!-- help:end -->"
text = re.sub(r"<!-- help:start -->.*?<!-- help:end -->", lambda _: block, text, flags=re.S)
open(path, "w").write(text)
PY
