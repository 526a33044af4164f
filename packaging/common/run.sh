#!/bin/sh
# Runs a packaged hostwarden program on the packaged Node.js 24 runtime (never the system's node, which may be
# older and would not load the native SQLite module). The /usr/bin launchers call it as
#   run.sh PROGRAM [ARG...]        (PROGRAM: agent/bin/hostwarden-agent, controller/bin/hostwarden-controller, ...)
# Paths are found from this script's own location, so an extracted package (dpkg-deb -x) runs in place.
# HOSTWARDEN_NODE overrides the runtime.
set -e
prog=$1
shift
lib=$(dirname "$(readlink -f "$0")")
node=${HOSTWARDEN_NODE:-$lib/node/bin/node}
if [ ! -x "$node" ]; then
  echo "hostwarden: Node.js runtime not found at $node (reinstall hostwarden-common, or set HOSTWARDEN_NODE)" >&2
  exit 1
fi
if [ ! -f "$lib/dist/$prog.js" ]; then
  echo "hostwarden: $lib/dist/$prog.js is missing (is the package that provides it installed?)" >&2
  exit 1
fi
exec "$node" "$lib/dist/$prog.js" "$@"
