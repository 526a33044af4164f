// Manual actions through the same API as hostwardenctl (POST /v1/tenants/{t}/actions): a form, then a
// confirmation step saying exactly what will happen, then the call. Read-only admins see the list only.
import { ApiError, get, post } from '../api.js';
import { h, replace } from '../dom.js';
import type { ActionStatus, TenantInfo } from '../wire.js';
import type { Ctx } from './ctx.js';
import { actionsTable } from './tenant.js';

const WHAT: Record<string, string> = {
  notice: 'send a notice to',
  throttle: 'throttle',
  quarantine: 'quarantine (freeze every process of)',
  release: 'release (lift every manual throttle or quarantine of)',
};

export async function actionsPage(main: HTMLElement, ctx: Ctx): Promise<void> {
  main.appendChild(h('h1', {}, 'Manual actions'));
  const [{ tenants }, { actions }] = await Promise.all([get<{ tenants: TenantInfo[] }>('/v1/tenants?limit=10000'), get<{ actions: ActionStatus[] }>('/v1/actions')]);
  if (ctx.session.role === 'viewer') {
    main.appendChild(h('p', { class: 'notice' }, 'Your token is read-only: you can see the actions, not take them.'));
  } else {
    main.appendChild(form(tenants, ctx.params.get('tenant') ?? ''));
  }
  main.appendChild(h('h2', {}, 'Recent actions'));
  main.appendChild(actionsTable(actions));
}

function form(tenants: TenantInfo[], preset: string): HTMLElement {
  const tenant = h('select', { id: 'action-tenant', name: 'tenant', required: true, 'aria-label': 'tenant' }, h('option', { value: '' }, '— tenant —'), tenants.map((t) => h('option', { value: t.name, selected: t.name === preset }, `${t.name}${t.host ? ` (${t.host})` : ''}`)));
  const action = h('select', { id: 'action-kind', name: 'action', 'aria-label': 'action' }, Object.keys(WHAT).map((a) => h('option', { value: a }, a)));
  const level = h('select', { id: 'action-level', name: 'level', 'aria-label': 'throttle level' }, h('option', { value: '1' }, 'level 1 (half the plan)'), h('option', { value: '2' }, 'level 2 (a quarter)'));
  const ttl = h('input', { id: 'action-ttl', name: 'ttl', type: 'text', value: '1h', pattern: '[0-9]+(s|m|h|d)', maxlength: 12, 'aria-label': 'ttl', title: 'a duration such as 30m, 2h, 1d' });
  const reason = h('textarea', { id: 'action-reason', name: 'reason', required: true, maxlength: 2000, rows: 2, 'aria-label': 'reason', placeholder: 'why (the tenant reads it in the notice)' });
  const confirm = h('div', { id: 'confirm', class: 'confirm', hidden: true });
  const result = h('div', { id: 'action-result', role: 'status' });
  const levelRow = h('label', {}, 'Level ', level);
  const ttlRow = h('label', {}, 'For ', ttl);
  const sync = () => {
    levelRow.hidden = action.value !== 'throttle';
    ttlRow.hidden = action.value !== 'throttle' && action.value !== 'quarantine';
  };
  action.addEventListener('change', sync);
  sync();

  const body = () => {
    const b: { action: string; reason: string; level?: number; ttl?: string } = { action: action.value, reason: reason.value.trim() };
    if (action.value === 'throttle') b.level = Number(level.value);
    if ((action.value === 'throttle' || action.value === 'quarantine') && ttl.value.trim()) b.ttl = ttl.value.trim();
    return b;
  };
  const f = h(
    'form',
    {
      id: 'action-form',
      class: 'action-form',
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        if (!tenant.value || !reason.value.trim()) return;
        const b = body();
        replace(result);
        // The confirmation step: say what will happen, in words, before anything is sent.
        replace(
          confirm,
          h('p', {}, `You are about to ${WHAT[b.action]} `, h('strong', {}, tenant.value), b.level ? ` at level ${b.level}` : '', b.ttl ? ` for ${b.ttl}` : '', '. Reason: “', b.reason, '”.'),
          h(
            'button',
            {
              id: 'confirm-yes',
              type: 'button',
              class: 'danger',
              onclick: () =>
                void (async () => {
                  confirm.hidden = true;
                  try {
                    const a = await post<ActionStatus>(`/v1/tenants/${encodeURIComponent(tenant.value)}/actions`, b);
                    replace(result, h('p', { class: 'ok', 'data-action-id': a.id }, `Queued: ${a.action}${a.level ? ` level ${a.level}` : ''} for ${a.tenant} on ${a.host} (${a.state}). `, h('a', { href: `#/tenant/${encodeURIComponent(a.tenant)}?range=1h` }, 'See the tenant')));
                  } catch (e) {
                    replace(result, h('p', { class: 'error', role: 'alert' }, e instanceof ApiError ? `${e.status} ${e.code}: ${e.message}` : String(e)));
                  }
                })(),
            },
            'Confirm',
          ),
          h('button', { type: 'button', onclick: () => (confirm.hidden = true) }, 'Cancel'),
        );
        confirm.hidden = false;
      },
    },
    h('label', {}, 'Tenant ', tenant),
    h('label', {}, 'Action ', action),
    levelRow,
    ttlRow,
    h('label', { class: 'wide' }, 'Reason ', reason),
    h('button', { type: 'submit', id: 'action-review' }, 'Review…'),
  );
  return h('section', {}, f, confirm, result);
}
