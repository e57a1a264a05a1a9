#!/usr/bin/env bash
# Paste the current `devops-agent --help` (and `validate`/`startup`/`integration --help`)
# between the README's help markers (tests/cli/usage.rs checks they agree).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/devops-agent
python3 - "$bin" <<'PY'
import re, subprocess, sys
bin = sys.argv[1]
path = "README.md"
text = open(path).read()
for marker, args in [("help", ["--help"]), ("help-validate", ["validate", "--help"]),
                     ("help-startup", ["startup", "--help"]),
                     ("help-integration", ["integration", "--help"])]:
    out = subprocess.run([bin, *args], check=True, capture_output=True, text=True).stdout
    block = f"<!-- {marker}:start -->\n```text\n" + out.rstrip() + f"\n```\n<!-- {marker}:end -->"
    text = re.sub(rf"<!-- {marker}:start -->.*?<!-- {marker}:end -->", lambda _: block, text,
                  flags=re.S)
open(path, "w").write(text)
PY
