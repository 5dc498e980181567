#!/bin/sh
# The Dockerfile's install step, also run by bench/install_size.py to measure what it leaves:
#   sh docker/install-daemon.sh PREFIX [SOURCE]
# `pip install SOURCE` (the daemon, no extras) under PREFIX, without pip's cache and without writing
# bytecode (the image runs with PYTHONDONTWRITEBYTECODE on a read-only root filesystem, so .pyc files
# would only be compiled at build time to save import time), then the test suites that numpy, scipy,
# pandas and statsmodels ship inside their packages: nothing imports them at run time.
set -eu
prefix=$1
source=${2:-.}
python -m pip install --quiet --no-cache-dir --no-compile --prefix="$prefix" "$source"
find "$prefix" -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +
