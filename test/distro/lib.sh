# Helpers of the distro tier's guest scripts (test/distro/checks.sh and the parts it sources), sourced from the
# share /run/hostwarden-distro. Each check prints "ok" or "FAIL" with what it saw and counts it.
failures=0
passes=0
T0=$(date +%s)
BASE=/sys/fs/cgroup/hostwarden.slice/hostwarden-tenants.service
PARENT=$BASE/hostwarden

step() { echo; echo "== [$(($(date +%s) - T0))s] $*"; }
ok() { passes=$((passes + 1)); echo "ok   - $*"; }
fail() { failures=$((failures + 1)); echo "FAIL - $*"; }
check() { # check NAME COMMAND...: passes when the command succeeds
  local name=$1
  shift
  if "$@"; then ok "$name"; else fail "$name"; fi
}
# wait_for SECONDS COMMAND...: true as soon as the command succeeds, false after SECONDS.
wait_for() {
  local until=$(($(date +%s) + $1))
  shift
  while :; do
    "$@" && return 0
    [ "$(date +%s)" -lt "$until" ] || return 1
    sleep 0.5
  done
}
cg_of() { sed -n 's/^0:://p' "/proc/$1/cgroup" 2>/dev/null; }
in_cgroup() { [ "$(cg_of "$1")" = "$2" ]; }
# all_in PATTERN USER CGROUP: every process of USER whose command matches PATTERN is in CGROUP (and there is one).
all_in() {
  local pids pid
  pids=$(pgrep -u "$2" -f "$1") || return 1
  for pid in $pids; do in_cgroup "$pid" "$3" || return 1; done
}
show_cg() { local pid; for pid in $(pgrep -u "$2" -f "$1"); do echo "     $pid $(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-60) -> $(cg_of "$pid")"; done; }
file_is() { [ "$(cat "$1" 2>/dev/null)" = "$2" ] || { echo "     $1: '$(cat "$1" 2>&1)' (want '$2')"; return 1; }; }
# file_eq FILE VALUE: file_is without a word, for waits that poll (file_is says what it saw once they gave up).
file_eq() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }
site() { curl -fsS --max-time 20 -H "Host: $1.test" http://127.0.0.1/index.php; }
# apt_get LOG ARG...: apt-get, non-interactive, without a pty; --force-unsafe-io: no fsync per unpacked file
# (thousands of them in node_modules), which costs minutes under emulation; the guest is thrown away after the
# run. Each line of its output is stamped with the seconds since the call (LOG), to see where the time goes.
apt_get() {
  local log=$1 t0 line now
  shift
  t0=${EPOCHREALTIME/./}
  DEBIAN_FRONTEND=noninteractive apt-get -y -o Dpkg::Use-Pty=0 -o Dpkg::Options::=--force-unsafe-io "$@" </dev/null 2>&1 |
    while IFS= read -r line; do
      now=${EPOCHREALTIME/./}
      printf '%4d.%d %s\n' $(((now - t0) / 1000000)) $(((now - t0) / 100000 % 10)) "$line"
    done >"$log"
  return "${PIPESTATUS[0]}"
}
# site_for TENANT CHILDREN: the tenant's PHP-FPM pool (static, CHILDREN workers, running as the tenant) and its
# nginx virtual host TENANT.test on 127.0.0.1:80 serving /home/TENANT/www (the page itself is the caller's).
site_for() {
  printf '[%s]\nuser = %s\ngroup = %s\nlisten = /run/php/%s.sock\nlisten.owner = www-data\nlisten.group = www-data\npm = static\npm.max_children = %s\n' \
    "$1" "$1" "$1" "$1" "$2" >"/etc/php/8.2/fpm/pool.d/$1.conf"
  cat >"/etc/nginx/sites-enabled/$1" <<EOF
server {
  listen 127.0.0.1:80;
  server_name $1.test;
  root /home/$1/www;
  index index.php;
  location ~ \.php\$ { include snippets/fastcgi-php.conf; fastcgi_pass unix:/run/php/$1.sock; }
}
EOF
}
