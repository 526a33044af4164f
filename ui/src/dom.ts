// Building the page from data without HTML strings: every text goes in as a text node, so nothing a tenant,
// an agent or an admin typed can become markup (no innerHTML anywhere in the UI).
export type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | ((ev: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Array<Child | Child[]>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (k === 'class') el.className = String(v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: Array<Child | Child[]>): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

export function replace(el: Element, ...children: Array<Child | Child[]>): void {
  el.replaceChildren();
  append(el, children);
}

export interface Column<T> {
  title: string;
  /** The cell's content. */
  cell: (row: T) => Child | Child[];
  /** The sort key; a column without one cannot be sorted. */
  key?: (row: T) => number | string | null;
  numeric?: boolean;
}

/** A table whose headers sort it (click again to reverse); rows carry data-key for the tests. */
export function sortableTable<T>(rows: T[], cols: Array<Column<T>>, opts: { rowKey: (row: T) => string; sort?: number; desc?: boolean; empty?: string }): HTMLElement {
  let sortCol = opts.sort ?? -1;
  let desc = opts.desc ?? false;
  const wrap = h('div', { class: 'table-wrap' });
  const draw = () => {
    const col = cols[sortCol];
    const sorted = col?.key ? [...rows].sort((a, b) => cmp(col.key!(a), col.key!(b)) * (desc ? -1 : 1)) : rows;
    const head = h(
      'tr',
      {},
      cols.map((c, i) =>
        h(
          'th',
          {
            class: [c.numeric ? 'num' : '', c.key ? 'sortable' : '', i === sortCol ? (desc ? 'sorted desc' : 'sorted asc') : ''].join(' ').trim(),
            'aria-sort': i === sortCol ? (desc ? 'descending' : 'ascending') : null,
            onclick: c.key
              ? () => {
                  if (sortCol === i) desc = !desc;
                  else [sortCol, desc] = [i, !!c.numeric];
                  draw();
                }
              : null,
          },
          c.title,
        ),
      ),
    );
    const body = sorted.map((r) => h('tr', { 'data-key': opts.rowKey(r) }, cols.map((c) => h('td', { class: c.numeric ? 'num' : null }, c.cell(r)))));
    replace(wrap, h('table', {}, h('thead', {}, head), h('tbody', {}, body.length ? body : h('tr', {}, h('td', { colspan: cols.length, class: 'empty' }, opts.empty ?? 'nothing to show')))));
  };
  draw();
  return wrap;
}

function cmp(a: number | string | null, b: number | string | null): number {
  if (a === b) return 0;
  if (a === null) return 1; // unknowns last whichever the direction of the numbers
  if (b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b));
}

export function link(href: string, text: Child): HTMLAnchorElement {
  return h('a', { href }, text);
}

export function badge(text: string, kind = text): HTMLElement {
  return h('span', { class: `badge badge-${kind.replace(/[^a-z0-9_-]/gi, '')}` }, text);
}

export function dl(pairs: Array<[string, Child | Child[]]>): HTMLElement {
  return h('dl', {}, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}
