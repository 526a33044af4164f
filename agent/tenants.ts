// Tenants: from the agent config, from the controller's policy and, when enabled, discovered from local
// accounts (UID >= uid_min with a login shell). Resolved to UIDs through the passwd file, re-read when it changes.
import { statSync } from 'node:fs';
import { NAME_RE, type Plan, type TenantSpec } from '../shared/wire/agent.js';
import { NO_LOGIN_SHELLS, type AgentConfig, type TenantConfig } from './config.js';
import { boundName } from './bounds.js';
import { cleanHomes } from './homes.js';
import { readPasswd, type PasswdEntry } from './kernel/passwd.js';

export interface Tenant {
  name: string;
  uids: number[];
  email?: string;
  planName?: string;
  plan?: Plan;
  homes: string[];
  domains: string[];
  source: 'config' | 'controller' | 'discovered';
}

export interface TenantProblem {
  tenant: string;
  message: string;
}

export interface ResolveInput {
  uidMin: number;
  configured: TenantConfig[];
  /** Tenants from the controller's policy (override configured ones of the same name). */
  managed?: TenantSpec[];
  plans: Record<string, Plan>;
  discovery: AgentConfig['discovery'];
  passwd: PasswdEntry[];
}

/** Pure: turn tenant definitions into resolved tenants and the problems met on the way. */
export function resolveTenants(input: ResolveInput): { tenants: Tenant[]; problems: TenantProblem[] } {
  const byName = new Map(input.passwd.map((e) => [e.name, e]));
  const byUid = new Map(input.passwd.map((e) => [e.uid, e]));
  const problems: TenantProblem[] = [];
  const out = new Map<string, Tenant>();
  const claimed = new Map<number, string>();

  const add = (def: { name: string; users: Array<string | number>; email?: string | undefined; plan?: string | undefined; homes?: string[] | undefined; domains?: string[] | undefined }, source: Tenant['source']) => {
    const uids: number[] = [];
    const dropHome = (message: string) => problems.push({ tenant: def.name, message });
    const homes = new Set(cleanHomes(def.homes ?? [], dropHome));
    for (const u of def.users) {
      const entry = typeof u === 'number' ? byUid.get(u) : byName.get(u);
      const uid = typeof u === 'number' ? u : entry?.uid;
      if (uid === undefined) {
        problems.push({ tenant: def.name, message: `user "${u}" does not exist (yet); its processes are not placed` });
        continue;
      }
      if (uid < input.uidMin || uid === 0) {
        problems.push({ tenant: def.name, message: `user "${u}" has UID ${uid}, below uid_min ${input.uidMin}: never governed` });
        continue;
      }
      const owner = claimed.get(uid);
      if (owner !== undefined && owner !== def.name) {
        problems.push({ tenant: def.name, message: `UID ${uid} already belongs to tenant "${owner}"` });
        continue;
      }
      claimed.set(uid, def.name);
      uids.push(uid);
      if (entry && def.homes === undefined && entry.home && entry.home !== '/nonexistent') {
        for (const h of cleanHomes([entry.home], (m) => dropHome(`${m} (user "${boundName(entry.name)}" in the passwd file)`))) homes.add(h);
      }
    }
    const plan = def.plan !== undefined ? input.plans[def.plan] : undefined;
    if (def.plan !== undefined && !plan) problems.push({ tenant: def.name, message: `unknown plan "${def.plan}": no caps applied` });
    const t: Tenant = { name: def.name, uids, homes: [...homes], domains: def.domains ?? [], source };
    if (def.email !== undefined) t.email = def.email;
    if (plan) {
      t.plan = plan;
      t.planName = def.plan!;
    }
    out.set(def.name, t);
  };

  const managed = new Map((input.managed ?? []).map((t) => [t.name, t]));
  for (const t of managed.values()) add(t, 'controller');
  for (const t of input.configured) if (!managed.has(t.name)) add(t, 'config');
  if (input.discovery.enabled) {
    const shellsOk = (shell: string) =>
      input.discovery.shells.length > 0 ? input.discovery.shells.includes(shell) : !NO_LOGIN_SHELLS.includes(shell);
    for (const e of input.passwd) {
      if (e.uid < input.uidMin || e.uid === 65534 || claimed.has(e.uid) || out.has(e.name) || !shellsOk(e.shell)) continue;
      if (!NAME_RE.test(e.name)) continue;
      add({ name: e.name, users: [e.uid], plan: input.discovery.plan }, 'discovered');
    }
  }
  return { tenants: [...out.values()], problems };
}

/** Keeps the resolved tenant set current: re-reads the passwd file only when its mtime or size changes. */
export class TenantRegistry {
  private passwd: PasswdEntry[] = [];
  private passwdStamp = '';
  private managed: TenantSpec[] | undefined;
  private managedPlans: Record<string, Plan> = {};
  private current: Tenant[] = [];
  private uidIndex = new Map<number, Tenant>();
  private nameIndex = new Map<string, Tenant>();
  private reportedProblems = new Set<string>();

  constructor(
    private readonly config: AgentConfig,
    private readonly onProblem: (p: TenantProblem) => void = () => {},
  ) {}

  /** Tenants and plans from the controller; undefined keeps using the local config only. */
  setManaged(tenants: TenantSpec[] | undefined, plans: Record<string, Plan> = {}): void {
    this.managed = tenants;
    this.managedPlans = plans;
    this.passwdStamp = ''; // force a re-resolve
  }

  /** Re-resolve if anything changed; returns true when the tenant set may have changed. */
  refresh(): boolean {
    const st = statSync(this.config.passwdFile, { throwIfNoEntry: false });
    const stamp = st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'missing';
    if (stamp === this.passwdStamp) return false;
    this.passwdStamp = stamp;
    this.passwd = st ? readPasswd(this.config.passwdFile) : [];
    const { tenants, problems } = resolveTenants({
      uidMin: this.config.uidMin,
      configured: this.config.tenants,
      managed: this.managed,
      plans: { ...this.config.plans, ...this.managedPlans },
      discovery: this.config.discovery,
      passwd: this.passwd,
    });
    for (const p of problems) {
      const key = `${p.tenant}:${p.message}`;
      if (!this.reportedProblems.has(key)) {
        this.reportedProblems.add(key);
        this.onProblem(p);
      }
    }
    this.current = tenants;
    this.uidIndex = new Map();
    this.nameIndex = new Map(tenants.map((t) => [t.name, t]));
    for (const t of tenants) for (const uid of t.uids) this.uidIndex.set(uid, t);
    return true;
  }

  list(): readonly Tenant[] {
    return this.current;
  }

  get(name: string): Tenant | undefined {
    return this.nameIndex.get(name);
  }

  byUid(uid: number): Tenant | undefined {
    return this.uidIndex.get(uid);
  }

  plans(): Record<string, Plan> {
    return { ...this.config.plans, ...this.managedPlans };
  }
}
