#!/bin/sh
# The Dockerfile's install step, also run by bench/install_size.py to measure what it leaves:
#   sh docker/install-daemon.sh PREFIX [SOURCE]
# `pip install SOURCE` (the daemon, no extras) under PREFIX, without pip's cache, then the test suites
# that numpy, scipy, pandas and statsmodels ship inside their packages: nothing imports them at run time.
# Bytecode is compiled here, at build time: the image runs on a read-only root filesystem, so without it
# every start would compile the daemon's imports again (6-10 s more on a loaded 2-core machine).
set -eu
prefix=$1
source=${2:-.}
python -m pip install --quiet --no-cache-dir --prefix="$prefix" "$source"
find "$prefix" -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} +
