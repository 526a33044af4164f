// The notices' template language: values, sections, lists, inverted sections, HTML escaping (no raw form),
// whole-line tags leaving no blank lines, and errors naming the template and line.
import { describe, expect, it } from 'vitest';
import { checkTemplate, compileTemplate, escapeHtml, TemplateError } from '../../../../controller/notices/template-engine.js';

const text = (src: string, view: object) => compileTemplate(src, { name: 't', mode: 'text' }).render(view);
const html = (src: string, view: object) => compileTemplate(src, { name: 't', mode: 'html' }).render(view);

function error(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TemplateError);
    return (err as Error).message;
  }
  throw new Error('no error');
}

describe('templates', () => {
  it('fills values, nested names and numbers; missing values are empty', () => {
    expect(text('{{a}} {{ b.c }} {{n}} {{gone}}|', { a: 'x', b: { c: 'y' }, n: 3, gone: null })).toBe('x y 3 |');
  });

  it('shows sections for truthy values, repeats them for lists and inverts with ^', () => {
    const view = { on: true, off: false, empty: [], items: [{ name: 'a' }, { name: 'b' }], words: ['x', 'y'], obj: { v: 1 }, top: 'T' };
    expect(text('{{#on}}on{{/on}}{{#off}}off{{/off}}{{^off}}!off{{/off}}{{^empty}}none{{/empty}}', view)).toBe('on!offnone');
    expect(text('{{#items}}[{{name}} {{top}}]{{/items}}', view)).toBe('[a T][b T]');
    expect(text('{{#words}}<{{.}}>{{/words}}', view)).toBe('<x><y>');
    expect(text('{{#obj}}{{v}}{{/obj}}', view)).toBe('1');
  });

  it('drops lines that hold only a section or comment tag', () => {
    const src = 'head\n{{! a comment }}\n{{#items}}\n  - {{.}}\n{{/items}}\n{{^items}}\n  none\n{{/items}}\ntail\n';
    expect(text(src, { items: ['a', 'b'] })).toBe('head\n  - a\n  - b\ntail\n');
    expect(text(src, { items: [] })).toBe('head\n  none\ntail\n');
    // inline tags keep their line
    expect(text('a {{#x}}b{{/x}} c\n', { x: true })).toBe('a b c\n');
  });

  it('escapes every value in HTML, in text and attributes alike, and has no raw form', () => {
    const v = { cmd: `php <script>alert("x")</script> & 'y'` };
    expect(html('<code>{{cmd}}</code><a title="{{cmd}}">', v)).toBe(
      '<code>php &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;</code><a title="php &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;">',
    );
    expect(text('{{cmd}}', v)).toBe(v.cmd);
    expect(escapeHtml('<>&"\'')).toBe('&lt;&gt;&amp;&quot;&#39;');
    expect(error(() => compileTemplate('x {{{cmd}}}', { name: 'a.html', mode: 'html' }))).toMatch(/a\.html line 1: unsupported tag/);
    expect(error(() => compileTemplate('{{&cmd}}', { name: 'a.html', mode: 'html' }))).toMatch(/unsupported tag/);
  });

  it('names the template and line of a syntax error', () => {
    expect(error(() => compileTemplate('a\n{{#x}}\nb\n', { name: 'n.txt', mode: 'text' }))).toBe('n.txt line 2: {{#x}} is never closed');
    expect(error(() => compileTemplate('a\n\n{{#x}}{{/y}}', { name: 'n.txt', mode: 'text' }))).toBe('n.txt line 3: {{/y}} closes {{#x}} of line 3');
    expect(error(() => compileTemplate('{{/y}}', { name: 'n.txt', mode: 'text' }))).toMatch(/closes nothing/);
    expect(error(() => compileTemplate('ok\n{{ no good }}', { name: 'n.txt', mode: 'text' }))).toMatch(/n\.txt line 2: .* is not a valid name/);
    expect(error(() => compileTemplate('ok\nhalf {{open', { name: 'n.txt', mode: 'text' }))).toBe('n.txt line 2: "{{" without a matching "}}"');
  });

  it('checks every name against a sample view, inside sections and lists too', () => {
    const sample = { a: 'x', list: [{ b: 1 }], group: { c: 2 }, words: ['w'] };
    expect(() => checkTemplate('{{a}}{{#list}}{{b}}{{a}}{{/list}}{{#group}}{{c}}{{/group}}{{#words}}{{.}}{{/words}}{{^a}}{{a}}{{/a}}', { name: 'ok', sample })).not.toThrow();
    expect(error(() => checkTemplate('x\n{{#list}}{{bb}}{{/list}}', { name: 'o.txt', sample }))).toBe('o.txt line 2: unknown name "bb"');
    expect(error(() => checkTemplate('{{group.d}}', { name: 'o.txt', sample }))).toBe('o.txt line 1: unknown name "group.d"');
    expect(error(() => checkTemplate('{{list}}', { name: 'o.txt', sample }))).toMatch(/"list" is a list; use \{\{#list\}\}/);
  });
});
