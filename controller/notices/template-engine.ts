// A tiny, safe template language for notices (a subset of Mustache), so admins can override the wording
// without code and without any way to run code:
//   {{name}} {{a.b}} {{.}}           a value; in HTML templates always escaped (& < > " '), there is no raw form
//   {{#name}}...{{/name}}            a section: shown when name is truthy; repeated for each item of a list,
//                                    with the item (or an object value) as the innermost context
//   {{^name}}...{{/name}}            shown when name is falsy or an empty list
//   {{! comment }}
// A line holding only a section, close or comment tag disappears whole (no blank lines from the markup).
// Names are checked when a template is loaded (checkTemplate against a sample view with every field), so a
// misspelt name in an override is a configuration error at start, not an empty hole in a tenant's email.
import { HostwardenError } from '../../shared/errors.js';

export type TemplateMode = 'text' | 'html';

export class TemplateError extends HostwardenError {
  constructor(message: string) {
    super('HW_TEMPLATE', message);
  }
}

type Node =
  | { t: 'text'; v: string }
  | { t: 'var'; path: string[]; line: number }
  | { t: 'section'; path: string[]; inverted: boolean; children: Node[]; line: number };

export interface Template {
  readonly name: string;
  readonly mode: TemplateMode;
  render(view: object): string;
}

const TAG = /\{\{\s*([#^/!]?)\s*([^}]*?)\s*\}\}/g;
const NAME = /^(\.|[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)$/;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;'));
}

function lineOf(source: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (source.charCodeAt(i) === 10) n++;
  return n;
}

function parse(text: string, name: string): Node[] {
  const root: Node[] = [];
  const stack: Array<{ path: string; children: Node[]; line: number }> = [{ path: '', children: root, line: 0 }];
  const pushText = (children: Node[], from: number, to: number) => {
    const v = text.slice(from, to);
    if (!v) return;
    const i = v.indexOf('{{');
    if (i >= 0) throw new TemplateError(`${name} line ${lineOf(text, from + i)}: "{{" without a matching "}}"`);
    children.push({ t: 'text', v });
  };
  let last = 0;
  for (const m of text.matchAll(TAG)) {
    const at = m.index;
    const line = lineOf(text, at);
    const top = stack[stack.length - 1]!;
    const sigil = m[1]!;
    const body = m[2]!;
    let end = at + m[0].length;
    let beforeEnd = at;
    if (sigil !== '') {
      // A tag alone on its line takes the whole line with it.
      const lineStart = text.lastIndexOf('\n', at - 1) + 1;
      const after = /^[ \t]*(\r?\n|$)/.exec(text.slice(end));
      if (lineStart >= last && /^[ \t]*$/.test(text.slice(lineStart, at)) && after) {
        beforeEnd = lineStart;
        end += after[0].length;
      }
    }
    pushText(top.children, last, beforeEnd);
    last = end;
    if (sigil === '!') continue;
    if (body.startsWith('{') || body.startsWith('&') || body.startsWith('>') || body.startsWith('=')) {
      throw new TemplateError(`${name} line ${line}: unsupported tag "${m[0]}" (only {{name}}, {{#name}}, {{^name}}, {{/name}} and {{! comment}})`);
    }
    if (!NAME.test(body)) throw new TemplateError(`${name} line ${line}: "${m[0]}" is not a valid name (letters, digits, _ and dots)`);
    if (sigil === '/') {
      if (stack.length === 1 || top.path !== body) {
        throw new TemplateError(`${name} line ${line}: {{/${body}}} closes ${stack.length === 1 ? 'nothing' : `{{#${top.path}}} of line ${top.line}`}`);
      }
      stack.pop();
      continue;
    }
    const path = body === '.' ? ['.'] : body.split('.');
    if (sigil === '#' || sigil === '^') {
      const node: Node = { t: 'section', path, inverted: sigil === '^', children: [], line };
      top.children.push(node);
      stack.push({ path: body, children: node.children, line });
    } else top.children.push({ t: 'var', path, line });
  }
  if (stack.length > 1) {
    const open = stack[stack.length - 1]!;
    throw new TemplateError(`${name} line ${open.line}: {{#${open.path}}} is never closed`);
  }
  pushText(root, last, text.length);
  return root;
}

const MISSING = Symbol('missing');

function lookup(stack: readonly unknown[], path: string[]): unknown {
  if (path[0] === '.') return stack[stack.length - 1];
  let value: unknown = MISSING;
  for (let i = stack.length - 1; i >= 0; i--) {
    const ctx = stack[i];
    if (ctx !== null && typeof ctx === 'object' && Object.hasOwn(ctx, path[0]!)) {
      value = (ctx as Record<string, unknown>)[path[0]!];
      break;
    }
  }
  for (let k = 1; k < path.length && value !== MISSING; k++) {
    value = value !== null && typeof value === 'object' && Object.hasOwn(value, path[k]!) ? (value as Record<string, unknown>)[path[k]!] : MISSING;
  }
  return value;
}

function truthy(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  return v !== false && v !== null && v !== undefined && v !== '' && v !== MISSING;
}

function show(v: unknown): string {
  if (v === null || v === undefined || v === MISSING || v === false) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

function renderNodes(nodes: readonly Node[], stack: unknown[], mode: TemplateMode, out: string[]): void {
  for (const n of nodes) {
    if (n.t === 'text') out.push(n.v);
    else if (n.t === 'var') {
      const s = show(lookup(stack, n.path));
      out.push(mode === 'html' ? escapeHtml(s) : s);
    } else {
      const v = lookup(stack, n.path);
      if (n.inverted) {
        if (!truthy(v)) renderNodes(n.children, stack, mode, out);
      } else if (Array.isArray(v)) {
        for (const item of v) {
          stack.push(item);
          renderNodes(n.children, stack, mode, out);
          stack.pop();
        }
      } else if (truthy(v)) {
        const push = typeof v === 'object';
        if (push) stack.push(v);
        renderNodes(n.children, stack, mode, out);
        if (push) stack.pop();
      }
    }
  }
}

/** Every name must resolve in the sample view (which has every field, lists with one item, objects filled). */
function checkNodes(nodes: readonly Node[], stack: unknown[], name: string): void {
  for (const n of nodes) {
    if (n.t === 'text') continue;
    const v = lookup(stack, n.path);
    if (v === MISSING) throw new TemplateError(`${name} line ${n.line}: unknown name "${n.path.join('.')}"`);
    if (n.t === 'var') {
      if (v !== null && typeof v === 'object') throw new TemplateError(`${name} line ${n.line}: "${n.path.join('.')}" is a ${Array.isArray(v) ? 'list' : 'group'}; use {{#${n.path.join('.')}}}...{{/${n.path.join('.')}}}`);
      continue;
    }
    const inner = Array.isArray(v) ? v[0] : v;
    const push = !n.inverted && (Array.isArray(v) || (inner !== null && typeof inner === 'object'));
    if (push) stack.push(inner);
    checkNodes(n.children, stack, name);
    if (push) stack.pop();
  }
}

export function compileTemplate(source: string, opts: { name: string; mode: TemplateMode }): Template {
  const nodes = parse(source, opts.name);
  return {
    name: opts.name,
    mode: opts.mode,
    render(view: object): string {
      const out: string[] = [];
      renderNodes(nodes, [view], opts.mode, out);
      return out.join('');
    },
  };
}

/** Throws a TemplateError naming the template and line of the first name the sample view does not have. */
export function checkTemplate(source: string, opts: { name: string; sample: object }): void {
  checkNodes(parse(source, opts.name), [opts.sample], opts.name);
}
