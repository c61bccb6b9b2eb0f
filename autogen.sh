#!/bin/sh
# autogen.sh: regenerates configure and Makefile.in from a git checkout.
set -e
cd "$(dirname "$0")"
exec autoreconf --install --force
