#!/bin/sh
# Tokens of the hostwarden packages, made by their postinst scripts (installed as /usr/lib/hostwarden/tokens.sh).
# Idempotent: an existing token is never replaced. Tokens are 64 hex digits from /dev/urandom, mode 0600.
#
#   tokens.sh admin FILE OWNER   make FILE unless it exists; chown OWNER (user:group), chmod 0600
#   tokens.sh local-agent [--link]   the token of the agent on this host, shared by a local controller:
#       ETC/agent-HOST.token     the token (owned by the hostwarden user when it exists, so the controller can
#                                read it; the agent runs as root and reads it anyway)
#       ETC/agent.token          with --link (the agent's postinst): a symbolic link to it, unless it exists;
#                                the agent's default controller.token_file
#       ETC/agents.d/HOST.token  a symbolic link to it, unless it exists: a controller on this host reads
#                                agents.d (agents_dir in the packaged controller.yaml) and so lets this
#                                agent report with no edit of agents:. agents.d is root's, 0755, and holds
#                                only links and files root put there (the controller refuses it otherwise).
#     HOST is `host:` of ETC/agent.yaml when set there, else `uname -n` (the agent's own default). When
#     agent.token is already a file (a token copied from a remote controller), agent-HOST.token is made as a
#     copy of it, so that a controller installed later on this host accepts this agent. The name of the token
#     file is recorded in STATE/local-agent-token, so the purge of the last package knows what to remove.
#
# Environment (tests): HOSTWARDEN_ETC (default /etc/hostwarden), HOSTWARDEN_STATE (default /var/lib/hostwarden).
set -eu
etc=${HOSTWARDEN_ETC:-/etc/hostwarden}
state=${HOSTWARDEN_STATE:-/var/lib/hostwarden}

new_token() {
  # $1: file. Written beside it first, so the file appears whole or not at all.
  (
    umask 077
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$1.new"
    echo >>"$1.new"
    mv "$1.new" "$1"
  )
}

owner_if_exists() {
  # $1: user, $2: file. Leaves root as the owner when the user does not exist (yet).
  if getent passwd "$1" >/dev/null 2>&1; then chown "$1:$1" "$2"; fi
}

local_host() {
  h=""
  if [ -f "$etc/agent.yaml" ]; then
    h=$(sed -n 's/^host:[[:space:]]*["'\'']\{0,1\}\([A-Za-z0-9][A-Za-z0-9._-]*\).*/\1/p' "$etc/agent.yaml" | head -n 1)
  fi
  [ -n "$h" ] || h=$(uname -n)
  echo "$h"
}

case "${1:-}" in
admin)
  file=${2:?tokens.sh admin FILE OWNER}
  owner=${3:?tokens.sh admin FILE OWNER}
  mkdir -p "$(dirname "$file")"
  [ -e "$file" ] || new_token "$file"
  chown "$owner" "$file"
  chmod 0600 "$file"
  ;;
local-agent)
  host=$(local_host)
  name="agent-$host.token"
  tok="$etc/$name"
  link="$etc/agent.token"
  mkdir -p "$etc"
  if [ ! -e "$tok" ]; then
    if [ -f "$link" ] && [ ! -L "$link" ]; then
      (umask 077 && cp "$link" "$tok.new" && mv "$tok.new" "$tok")
    else
      new_token "$tok"
    fi
  fi
  chmod 0600 "$tok"
  owner_if_exists hostwarden "$tok"
  mkdir -p "$etc/agents.d"
  chmod 0755 "$etc/agents.d"
  pair="$etc/agents.d/$host.token"
  if [ ! -e "$pair" ] && [ ! -L "$pair" ]; then
    ln -s "../$name" "$pair"
  elif [ -L "$pair" ] && [ ! -e "$pair" ]; then
    echo "hostwarden: $pair points to a missing file ($(readlink "$pair")); the controller will not start until it is fixed" >&2
  fi
  if [ "${2:-}" != --link ]; then
    :
  elif [ ! -e "$link" ] && [ ! -L "$link" ]; then
    ln -s "$name" "$link"
  elif [ -L "$link" ] && [ ! -e "$link" ]; then
    echo "hostwarden: $link points to a missing file ($(readlink "$link")); the agent cannot report until it is fixed" >&2
  fi
  mkdir -p "$state"
  echo "$name" >"$state/local-agent-token"
  ;;
*)
  echo "usage: tokens.sh admin FILE OWNER | tokens.sh local-agent [--link]" >&2
  exit 2
  ;;
esac
