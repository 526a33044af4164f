#!/bin/bash
# The neighbours bench's guest part (bench/neighbours.ts boots the distro guest with scripts/distro/run.sh and
# runs this in it, from the share that holds the packages built from the tree (debs/), test/distro/lib.sh and
# load.mjs). Tenants on one plan with a cpu cap of 1.5 cores (of the guest's 2): "noisy", whose CPU-heavy PHP
# page is hammered by CLIENTS concurrent clients, "victim", whose light page is requested at RATE/s, and three
# more ("n1".."n3") with a light page at 1/s each: a host's other sites, so that the fair share is that of five
# active tenants and the judgement runs with its packaged defaults. Phases, in one boot:
#   idle        the victim's page alone (hostwarden running)
#   governed    noisy hammered, hostwarden running: WARMUP s for its judgement to act, then measured
#   lifted      noisy still hammered, the agent stopped and every tenant's limits lifted (cpu.max, cpu.weight);
#               the processes stay in the tenants' cgroups, among which the kernel shares the CPU by weight
#   ungoverned  no hostwarden: php-fpm restarted with the agent stopped, so every pool's workers are in
#               php8.2-fpm.service together, as on a server without hostwarden
# The result: one line "hw-bench-neighbours: {JSON}" on stdout.
set -uo pipefail
cd "$(dirname "$0")"
SHARE=$PWD
. ./lib.sh
RATE=${HW_BENCH_RATE:-5}
CLIENTS=${HW_BENCH_CLIENTS:-8}
SECONDS_MEASURED=${HW_BENCH_SECONDS:-45}
WARMUP=${HW_BENCH_WARMUP:-75}
NODE=/usr/lib/hostwarden/node/bin/node
PARENT=/sys/fs/cgroup/hostwarden.slice/hostwarden-tenants.service/hostwarden
TENANTS="noisy victim n1 n2 n3"
say() { echo "neighbours: [$(($(date +%s) - T0))s] $*"; }

say "the hosting stack"
for t in $TENANTS; do
  useradd -m -s /bin/bash "$t"
  mkdir -p "/home/$t/www"
  echo '<?php echo "hello\n";' >"/home/$t/www/index.php"
  chown -R "$t:$t" "/home/$t/www"
  chmod 755 "/home/$t"
  children=1
  [ "$t" != victim ] || children=2
  [ "$t" != noisy ] || children=$CLIENTS
  site_for "$t" "$children"
done
# The CPU-heavy page: a loop of arithmetic (no I/O, no sleep).
echo '<?php $x = 0; for ($i = 0; $i < 300000; $i++) { $x += $i % 7; } echo "done $x\n";' >/home/noisy/www/heavy.php
rm -f /etc/php/8.2/fpm/pool.d/www.conf /etc/nginx/sites-enabled/default
systemctl restart php8.2-fpm nginx

say "installing the packages built from the tree"
if ! apt_get install.log install "$SHARE"/debs/*.deb; then tail -n 30 install.log; exit 1; fi
{
  echo 'interval: 2s'
  echo 'plans:'
  echo '  shared: { cpu: 150, memory: 512M, processes: 300 }'
  echo 'tenants:'
  for t in $TENANTS; do echo "  - { name: $t, users: [$t], plan: shared, homes: [/home/$t], domains: [$t.test] }"; done
} >/etc/hostwarden/agent.yaml
systemctl restart hostwarden-agent
wait_for 120 bash -c "[ \"\$(cat $PARENT/noisy/cpu.max 2>/dev/null)\" = '150000 100000' ]" || { say "the agent did not apply the plan"; journalctl -u hostwarden-agent -o cat | tail -n 20; exit 1; }
for t in $TENANTS; do
  wait_for 60 all_in 'php-fpm: pool' "$t" "/hostwarden.slice/hostwarden-tenants.service/hostwarden/$t" || say "$t's workers are not all placed"
done
say "every tenant's workers are in its cgroup; plan cpu.max $(cat $PARENT/noisy/cpu.max)"
# The controller takes minutes to start in the emulated guest: the idle phase begins once it answers and the
# agent's reports arrive, then 20 s more to settle.
wait_for 300 bash -c "hostwardenctl --timeout 60s --json hosts 2>/dev/null | grep -q '\"$(hostname)\"'" || say "the controller does not list this host"
sleep 20
say "the controller lists this host"

# load ARGS...: the load generator in a slice of its own (neither a tenant nor a system service).
load() { systemd-run --quiet --scope --slice=hwbench.slice "$NODE" "$SHARE/load.mjs" "$@"; }
single=$(load steady noisy.test /heavy.php 1 3)
say "one request of the heavy page on the idle server: $single"
# others SECONDS: the three other sites at 1/s each, in the background.
others() { for t in n1 n2 n3; do load steady "$t.test" /index.php 1 "$1" >/dev/null & done; }

say "phase idle: the victim alone at $RATE/s for ${SECONDS_MEASURED}s"
others "$SECONDS_MEASURED"
idle=$(load steady victim.test /index.php "$RATE" "$SECONDS_MEASURED")
wait
say "idle: $idle"

say "phase governed: noisy hammered by $CLIENTS clients, ${WARMUP}s for the judgement, then ${SECONDS_MEASURED}s measured"
total=$((WARMUP + SECONDS_MEASURED))
load hammer noisy.test /heavy.php "$CLIENTS" "$total" >hammer-governed.json &
hammer=$!
others "$total"
sleep "$WARMUP"
cpu_at_measure=$(cat $PARENT/noisy/cpu.max)
say "noisy's cpu.max after the warm-up: $cpu_at_measure (cpu.weight $(cat $PARENT/noisy/cpu.weight))"
governed=$(load steady victim.test /index.php "$RATE" "$SECONDS_MEASURED")
cpu_after=$(cat $PARENT/noisy/cpu.max)
wait
say "governed: $governed; noisy: $(cat hammer-governed.json); cpu.max at the end $cpu_after"
# noisy's incidents as "resource step level state" (the controller has them from the agent's reports).
incidents=$(hostwardenctl --timeout 60s --json incidents --tenant noisy 2>/dev/null | "$NODE" -e '
let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
  try { console.log(JSON.parse(s).incidents.map((i) => [i.resource, i.step, i.level, i.state].join(" ")).join("; ")); } catch { console.log("unreadable"); }
});')
say "noisy's incidents: ${incidents:-none}"
journalctl -u hostwarden-agent -o cat --no-pager | grep -i '"tenant":"noisy"' | grep -iv 'placed' | tail -n 5 | cut -c1-300 | sed 's/^/     agent: /'

# abuse NAME: noisy hammered, the other sites at 1/s, 15 s to settle, then the victim measured.
abuse() {
  load hammer noisy.test /heavy.php "$CLIENTS" "$((SECONDS_MEASURED + 15))" >"hammer-$1.json" &
  others "$((SECONDS_MEASURED + 15))"
  sleep 15
  load steady victim.test /index.php "$RATE" "$SECONDS_MEASURED" >"victim-$1.json"
  wait
  say "$1: $(cat "victim-$1.json"); noisy: $(cat "hammer-$1.json")"
}
say "phase lifted: the agent stopped, every tenant's limits lifted, noisy hammered again"
systemctl stop hostwarden-agent
for t in $TENANTS; do
  echo max >"$PARENT/$t/cpu.max"
  echo 100 >"$PARENT/$t/cpu.weight"
  echo max >"$PARENT/$t/memory.high" 2>/dev/null
done
abuse lifted
say "phase ungoverned: php-fpm restarted with the agent stopped (every pool's workers in php8.2-fpm.service)"
systemctl restart php8.2-fpm
sleep 2
say "noisy's workers now in: $(pgrep -u noisy -f 'php-fpm: pool' | head -n 1 | xargs -I{} sed -n 's/^0:://p' /proc/{}/cgroup)"
abuse ungoverned

printf 'hw-bench-neighbours: {"rate":%s,"clients":%s,"seconds":%s,"warmup":%s,"single":%s,"idle":%s,"governed":%s,"lifted":%s,"ungoverned":%s,"noisy_governed":%s,"noisy_lifted":%s,"noisy_ungoverned":%s,"noisy_cpu_max":["%s","%s"],"incidents":"%s"}\n' \
  "$RATE" "$CLIENTS" "$SECONDS_MEASURED" "$WARMUP" "$single" "$idle" "$governed" "$(cat victim-lifted.json)" "$(cat victim-ungoverned.json)" \
  "$(cat hammer-governed.json)" "$(cat hammer-lifted.json)" "$(cat hammer-ungoverned.json)" \
  "$cpu_at_measure" "$cpu_after" "$incidents"
