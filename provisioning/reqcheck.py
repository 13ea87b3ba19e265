"""Which lines of a pip requirements file the running interpreter does not satisfy yet.

Standard library only: it runs in a fresh venv or a pod image's Python before anything is
installed. ``name==version`` must match exactly, a bare ``name`` must be installed; ``-r`` files
are followed; ``-e``/URL lines and other options are left to pip. Prints the unsatisfied lines;
exit 0 when there are none, 1 otherwise.
"""
from __future__ import annotations

import re
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

_REQ = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(?:==\s*([^\s;#]+))?\s*(?:;.*)?$")


def unsatisfied(path: Path) -> list[str]:
    missing: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            missing += unsatisfied(path.parent / line.split(None, 1)[1])
            continue
        m = _REQ.match(line)
        if not m:  # -e ., URLs, --index-url …: pip's business
            continue
        name, _extras, pinned = m.groups()
        try:
            have = version(name)
        except PackageNotFoundError:
            missing.append(line)
            continue
        if pinned and have != pinned:
            missing.append(f"{line} (have {have})")
    return missing


if __name__ == "__main__":
    lines = unsatisfied(Path(sys.argv[1]))
    print("\n".join(lines))
    sys.exit(1 if lines else 0)
