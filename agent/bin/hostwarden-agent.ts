#!/usr/bin/env node
// hostwarden-agent [--config FILE] [--once] [--dry-run] [--release-all]
// Exit codes: 0 ok, 1 runtime failure, 2 usage/config.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, UsageError } from '../../shared/errors.js';
import { createLogger } from '../../shared/log.js';
import { AGENT_VERSION, Agent } from '../agent.js';
import { ONCE_WAIT_MS } from '../collectors/inventory.js';
import { createDriver, detectLayout } from '../kernel/cgroup/detect.js';
import { DELEGATED_BASE, systemdBooted, waitForDelegation } from '../systemd.js';
import { DEFAULT_AGENT_CONFIG_FILE, loadAgentConfig } from '../config.js';

const HELP = `Usage: hostwarden-agent [--config FILE] [--once] [--dry-run] [--release-all]

Places each tenant's processes in its own cgroup, measures them, enforces plans and policy, and reports to
the hostwarden controller.

  --config FILE   agent config (default ${DEFAULT_AGENT_CONFIG_FILE}; embedded defaults if that file is absent)
  --once          run one full tick (place, collect, evaluate, enforce, spool, report) and exit
  --dry-run       decide and log, but change no limit in the kernel
  --release-all   thaw and release every tenant, remove every cgroup the agent made, and exit
  --version       print the version
  -h, --help      this text

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.`;

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        once: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        'release-all': { type: 'boolean', default: false },
        version: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${HELP}`);
  }
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return EXIT_OK;
  }
  if (args.version) {
    process.stdout.write(`hostwarden-agent ${AGENT_VERSION}\n`);
    return EXIT_OK;
  }
  const file = args.config ?? (existsSync(DEFAULT_AGENT_CONFIG_FILE) ? DEFAULT_AGENT_CONFIG_FILE : undefined);
  const config = loadAgentConfig(file);
  const log = createLogger('hostwarden-agent', config.logLevel);
  if (!file) log.info(`no ${DEFAULT_AGENT_CONFIG_FILE}: running on embedded defaults`);
  // systemd hosts: the parent lives in the subtree hostwarden-tenants.service delegates, and nothing outside it is
  // written (not the root's subtree_control either). See agent/systemd.ts.
  const systemd = config.cgroup.systemd === 'yes' ||
    (config.cgroup.systemd === 'auto' && config.cgroup.driver !== 'v1' && systemdBooted() && detectLayout({ cgroupRoot: config.cgroup.root, procRoot: config.procRoot }).kind === 'v2');
  const parent = systemd ? `${DELEGATED_BASE}/${config.cgroup.parent}` : config.cgroup.parent;
  if (systemd && !args['release-all'] && !waitForDelegation(config.cgroup.root)) {
    log.error(`the delegated cgroup ${DELEGATED_BASE} offers no cpu and memory controllers: is hostwarden-tenants.service running? (systemctl status hostwarden-tenants)`);
  }
  const driver = createDriver({
    cgroupRoot: config.cgroup.root,
    procRoot: config.procRoot,
    parent,
    driver: config.cgroup.driver,
    enableRootControllers: systemd ? false : config.cgroup.enableRootControllers,
    logger: log.child({ component: 'cgroup' }),
  });
  log.info({ driver: driver.kind, systemd, parent: driver.parentPaths(), host: config.host, tenants: config.tenants.length }, 'starting');
  // The malware scanner's engine runs in a capped cgroup of its own, beside the tenants' parent.
  const scannerDriver = config.malware.enabled || args['release-all']
    ? createDriver({ cgroupRoot: config.cgroup.root, procRoot: config.procRoot, parent: `${parent}-scanner`, driver: config.cgroup.driver, logger: log.child({ component: 'cgroup' }) })
    : undefined;
  const agent = new Agent({ config, driver, log, dryRun: args['dry-run'], scannerDriver, systemd });

  if (args['release-all']) {
    const released = agent.releaseAll();
    log.info({ released }, 'released every tenant and removed the cgroups the agent made');
    await agent.stop();
    return EXIT_OK;
  }
  if (args.once) {
    agent.init(); // starts the policy pull; the tick waits for its answer
    await new Promise((r) => setTimeout(r, config.intervalMs));
    await agent.inventory?.settled(ONCE_WAIT_MS); // the host inventory init began, for the one report
    const r = await agent.tick({ awaitPolicy: true });
    await agent.stop();
    return r.reportError ? EXIT_RUNTIME : EXIT_OK;
  }
  // Before the first tick: a token file or an address that cannot be used exits 2 naming its key.
  try {
    await agent.listenMetrics();
  } catch (err) {
    await agent.stop();
    throw err;
  }
  agent.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping (tenant processes keep running in their cgroups)');
      agent.stop().then(resolve, resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return EXIT_OK;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof UsageError) {
      process.stderr.write(`hostwarden-agent: ${err.message}\n`);
      process.exitCode = EXIT_USAGE;
    } else {
      process.stderr.write(`hostwarden-agent: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = EXIT_RUNTIME;
    }
  },
);
