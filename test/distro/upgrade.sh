# The distro tier's upgrade (issue 12, item 3), sourced by test/distro/checks.sh in the guest after the hosting
# stack is up: the packages of an earlier commit (scripts/distro/old-debs.sh; in the share's old-debs/) are
# installed first and used: the agent reports the tenants of a hand-edited agent.yaml, the controller keeps
# their history, the tokens exist; then the packages built from the tree are installed over them with
# `apt-get install ./*.deb`. Checked: the tree's version is installed, the units are active again, every token
# is the same, the hand edits of agent.yaml and ctl.yaml are kept (conffiles), and the history from before the
# upgrade answers the same through the new hostwardenctl. Needs lib.sh, and AGENT_YAML (the tenants' config).

# history_samples SINCE UNTIL: raw samples of alice's usage in [SINCE, UNTIL] (ISO times), from hostwardenctl.
history_samples() {
  hostwardenctl --json usage alice --since "$1" --until "$2" --step 10s 2>/dev/null |
    grep -o '"samples":\[[0-9,]*\]' | grep -o '[0-9][0-9]*' | awk '{ n += $1 } END { print n + 0 }'
}
# token_state: every token file and link under /etc/hostwarden with its target or its sha256.
token_state() {
  find /etc/hostwarden -name '*.token' | sort | while IFS= read -r f; do
    if [ -L "$f" ]; then echo "$f -> $(readlink "$f")"; else echo "$f $(sha256sum <"$f" | cut -c1-16) $(stat -c '%U:%G %a' "$f")"; fi
  done
}

old_commit=$(cut -d' ' -f1 old-debs/done)
old_version=$(dpkg-deb -f "$(ls "$SHARE"/old-debs/hostwarden-agent_*.deb)" Version)
new_version=$(dpkg-deb -f "$(ls "$SHARE"/debs/hostwarden-agent_*.deb)" Version)
step "upgrade, part 1: the packages of ${old_commit:0:7} ($old_version) installed and used first"
ls old-debs/
T_OLD=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t=$(date +%s)
if apt_get old-install.log install "$SHARE"/old-debs/*.deb; then
  ok "apt-get install of the packages of ${old_commit:0:7} ($(($(date +%s) - t)) s)"
else
  fail "apt-get install of the packages of ${old_commit:0:7}"
  tail -n 30 old-install.log
fi
for u in hostwarden-agent hostwarden-controller; do
  check "$u.service of $old_version is active" wait_for 60 systemctl -q is-active "$u.service"
done
# The admin's hand edits, kept by the upgrade: the tenants in agent.yaml, a longer timeout in ctl.yaml (the
# emulated guest is slow to answer).
echo "$AGENT_YAML" >/etc/hostwarden/agent.yaml
printf '\n# hand edit before the upgrade (distro tier)\ntimeout: 60s\n' >>/etc/hostwarden/ctl.yaml
cp /etc/hostwarden/agent.yaml agent.yaml.edited
cp /etc/hostwarden/ctl.yaml ctl.yaml.edited
systemctl restart hostwarden-agent
if wait_for 240 bash -c "$(declare -f history_samples); [ \"\$(history_samples $T_OLD now)\" -ge 3 ]"; then
  ok "the agent of $old_version reports alice to the controller of $old_version (history: $(history_samples "$T_OLD" now) samples)"
else
  fail "the agent of $old_version reports alice to its controller"
  hostwardenctl hosts 2>&1 | head -n 5
  journalctl -b -u hostwarden-agent -u hostwarden-controller -o cat --no-pager | tail -n 20 | cut -c1-300
fi
tokens_before=$(token_state)
echo "$tokens_before" | sed 's/^/     /'
check "the packages of $old_version made the admin token and this host's agent token" bash -c "grep -q '^/etc/hostwarden/admin.token ' <<<'$tokens_before' && grep -q '^/etc/hostwarden/agents.d/' <<<'$tokens_before'"
sleep 2
T_UPGRADE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
samples_before=$(history_samples "$T_OLD" "$T_UPGRADE")

step "upgrade, part 2: the packages built from the tree ($new_version) installed over them: apt-get install ./*.deb"
t=$(date +%s)
UPGRADE_STARTED=$t
# --force-confdef --force-confold: what an unattended upgrade answers to dpkg's question about a conffile the
# admin changed (keep the admin's; the package's new one is left beside it as .dpkg-dist).
if apt_get upgrade.log -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install "$SHARE"/debs/*.deb; then
  ok "apt-get install ./*.deb over $old_version ($(($(date +%s) - t)) s)"
else
  fail "apt-get install ./*.deb over $old_version"
  tail -n 30 upgrade.log
fi
UPGRADED_AT=$(date +%s)
check "hostwarden-common, -agent and -controller are at $new_version" bash -c "[ \"\$(dpkg-query -W -f='\${Version} ' hostwarden-common hostwarden-agent hostwarden-controller)\" = '$new_version $new_version $new_version ' ]"
check "the upgrade was an upgrade (dpkg: $old_version -> $new_version)" grep -q "Unpacking hostwarden-agent ($new_version) over ($old_version)" upgrade.log
check "every token is the same after the upgrade" bash -c "[ \"\$($(declare -f token_state); token_state)\" = '$tokens_before' ]"
check "the hand edit of agent.yaml is kept" cmp -s agent.yaml.edited /etc/hostwarden/agent.yaml
check "the hand edit of ctl.yaml is kept" cmp -s ctl.yaml.edited /etc/hostwarden/ctl.yaml
ls /etc/hostwarden/*.dpkg-* 2>/dev/null | sed 's/^/     the package'\''s new version beside it: /'
for u in hostwarden-agent hostwarden-controller hostwarden-tenants; do
  check "$u.service is active after the upgrade" wait_for 60 systemctl -q is-active "$u.service"
done
# The new controller answers once started: 100-130 s after its postinst in the emulated guest, more under load
# (a run at load 6-7 on the 2 host cores saw the same 26 samples just after a 120 s wait gave up).
if wait_for 300 bash -c "$(declare -f history_samples); [ \"\$(history_samples $T_OLD $T_UPGRADE)\" = '$samples_before' ]"; then
  ok "alice's history from before the upgrade answers the same through the new hostwardenctl ($samples_before samples)"
else
  fail "alice's history from before the upgrade: $samples_before samples before, $(history_samples "$T_OLD" "$T_UPGRADE") after"
fi
check "the upgraded agent reports again (new samples)" wait_for 180 bash -c "$(declare -f history_samples); [ \"\$(history_samples $T_UPGRADE now)\" -ge 1 ]"
grep -E '^ *[0-9.]+ (Unpacking|Setting up|Processing triggers)' upgrade.log | sed 's/^/     /'
