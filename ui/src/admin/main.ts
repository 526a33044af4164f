// The admin dashboard: a single page with hash routes (#/fleet, #/tenants, #/tenant/NAME, #/incident/ID,
// #/fairness, #/audit, #/actions). Login with an admin token makes a session (an HttpOnly cookie the page
// never sees, and a CSRF token it sends on every change); the controller enforces both (UI-CONTRACT.md).
import '../style.css';
import { ApiError, get, post, setCsrf, whenUnauthorized } from '../api.js';
import { h, replace } from '../dom.js';
import type { Session } from '../wire.js';
import { actionsPage } from './actions.js';
import type { Ctx } from './ctx.js';
import { auditPage, fairnessPage, fleetPage, tenantsPage } from './lists.js';
import { incidentPage, tenantPage } from './tenant.js';

type Page = (main: HTMLElement, ctx: Ctx) => Promise<void>;

const PAGES: Record<string, { title: string; page: Page; nav: boolean }> = {
  fleet: { title: 'Fleet', page: fleetPage, nav: true },
  tenants: { title: 'Tenants', page: tenantsPage, nav: true },
  tenant: { title: 'Tenant', page: tenantPage, nav: false },
  incident: { title: 'Incident', page: incidentPage, nav: false },
  fairness: { title: 'Fairness', page: fairnessPage, nav: true },
  audit: { title: 'Audit log', page: auditPage, nav: true },
  actions: { title: 'Manual actions', page: actionsPage, nav: true },
};

const root = document.getElementById('app')!;
let session: Session | null = null;
let generation = 0;

function parseHash(): { name: string; rest: string[]; params: URLSearchParams } {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path = '', query = ''] = raw.split('?', 2);
  const parts = path.split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  return { name: parts[0] ?? 'fleet', rest: parts.slice(1), params: new URLSearchParams(query) };
}

async function route(): Promise<void> {
  const gen = ++generation;
  if (!session) return showLogin();
  const { name, rest, params } = parseHash();
  // Own keys only: #/constructor or #/__proto__ must not find Object's.
  const known = Object.hasOwn(PAGES, name);
  const entry = known ? PAGES[name]! : PAGES.fleet!;
  const main = h('main', { id: 'page', 'data-page': known ? name : 'fleet' });
  replace(root, header(name), main);
  document.title = `${entry.title} · hostwarden`;
  try {
    await entry.page(main, { session, params, rest });
  } catch (err) {
    if (gen !== generation) return;
    if (err instanceof ApiError && err.status === 401) return;
    main.appendChild(h('p', { class: 'error', role: 'alert' }, err instanceof Error ? err.message : String(err)));
  }
  if (gen === generation) main.dataset.loaded = '1';
}

function header(current: string): HTMLElement {
  return h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: '#/fleet' }, 'hostwarden'),
    h(
      'nav',
      {},
      Object.entries(PAGES)
        .filter(([, p]) => p.nav)
        .map(([k, p]) => h('a', { href: `#/${k}`, class: k === current ? 'current' : null, 'aria-current': k === current ? 'page' : null }, p.title)),
    ),
    h(
      'span',
      { class: 'who' },
      session ? `${session.admin}${session.role === 'viewer' ? ' (read-only)' : ''}` : '',
      h('button', { id: 'logout', type: 'button', onclick: () => void logout() }, 'Log out'),
    ),
  );
}

function showLogin(message?: string): void {
  generation++;
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true, maxlength: 4096, 'aria-label': 'admin token' });
  const err = h('p', { class: 'error', role: 'alert', id: 'login-error' }, message ?? '');
  const form = h(
    'form',
    {
      id: 'login',
      class: 'login',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        void (async () => {
          try {
            session = await post<Session>('/ui/api/login', { token: input.value });
            setCsrf(session.csrf);
            if (!location.hash || location.hash === '#/login') location.hash = '#/fleet';
            await route();
          } catch (e) {
            replace(err, e instanceof ApiError && e.status === 401 ? 'That token is not an admin token.' : e instanceof Error ? e.message : String(e));
          }
        })();
      },
    },
    h('h1', {}, 'hostwarden'),
    h('p', {}, 'Sign in with an admin token (the content of a file named in admin_token_file or admin_tokens of controller.yaml).'),
    h('label', { for: 'token' }, 'Admin token'),
    input,
    h('button', { type: 'submit' }, 'Sign in'),
    err,
  );
  replace(root, h('main', { id: 'page', 'data-page': 'login', 'data-loaded': '1' }, form));
  document.title = 'Sign in · hostwarden';
  input.focus();
}

async function logout(): Promise<void> {
  try {
    await post('/ui/api/logout');
  } catch {
    /* the session is gone either way */
  }
  session = null;
  setCsrf(null);
  showLogin('Signed out.');
}

try {
  session = await get<Session>('/ui/api/session');
  setCsrf(session.csrf);
} catch {
  session = null;
}
// From now on a 401 means the session ended (expired, or logged out elsewhere).
whenUnauthorized(() => {
  session = null;
  setCsrf(null);
  showLogin('Your session ended; sign in again.');
});
window.addEventListener('hashchange', () => void route());
void route();
