"""Run the ``farod`` command line as the daemon install would: the extras' packages cannot be imported.

    python tests/daemon_only.py run --config farod.yaml

A meta-path hook answers every import of numba, llvmlite, matplotlib, ray or aiohttp (and their
submodules) the way a missing package does, so a command that needs one fails just as it would
after ``pip install farod``, and one that only might (an optional import) carries on.
"""

from __future__ import annotations

import sys

from farod.cli import EXTRAS, main


class _Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in EXTRAS:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, _Uninstalled())
    sys.exit(main(sys.argv[1:]))
