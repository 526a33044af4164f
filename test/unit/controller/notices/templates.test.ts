// Admin overrides of the built-in templates: a file replaces its part only; a bad override is a configuration
// error of notices.templates_dir naming the file and line; HTML overrides escape too.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTemplates, NOTICE_HTML, renderWith, sampleDigestView, sampleNoticeView } from '../../../../controller/notices/templates.js';
import { ConfigError } from '../../../../shared/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'hw-templates-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('no error');
}

describe('template overrides', () => {
  it('replace only the parts given, and render with the same view', () => {
    const d = join(dir, 'ok');
    mkdirSync(d);
    writeFileSync(join(d, 'notice.subject'), '{{tenant}} on {{server}}: {{headline}}\n');
    writeFileSync(join(d, 'notice.html'), '<p>{{intro}}</p>{{#top_processes}}<i>{{command}}</i>{{/top_processes}}');
    writeFileSync(join(d, 'unrelated.txt'), 'ignored');
    const t = loadTemplates(d);
    expect(t.notice.sources).toEqual({ subject: join(d, 'notice.subject'), text: 'built-in notice.txt', html: join(d, 'notice.html') });
    expect(t.digest.sources.text).toBe('built-in digest.txt');
    const view = { ...sampleNoticeView(), top_processes: [{ ...sampleNoticeView().top_processes[0]!, command: '<b>x</b>' }] };
    const m = renderWith(t.notice, view);
    expect(m.subject).toBe(`alice on web01: ${view.headline}`);
    expect(m.html).toBe(`<p>${view.intro}</p><i>&lt;b&gt;x&lt;/b&gt;</i>`);
    expect(m.text).toContain('WHAT WAS DONE');
    expect(renderWith(loadTemplates().notice, view).html.startsWith(NOTICE_HTML.slice(0, 40))).toBe(true);
  });

  it('refuse an unknown name, a syntax error or a raw tag, naming the file and line', () => {
    const d = join(dir, 'bad');
    mkdirSync(d);
    writeFileSync(join(d, 'notice.txt'), 'Hello {{tenant}},\n{{#top_processes}}{{comand}}{{/top_processes}}\n');
    const e = configError(() => loadTemplates(d));
    expect(e.key).toBe('notices.templates_dir');
    expect(e.message).toBe(`config key "notices.templates_dir": ${join(d, 'notice.txt')} line 2: unknown name "comand"`);
    writeFileSync(join(d, 'notice.txt'), '{{#hints}}\n');
    expect(configError(() => loadTemplates(d)).message).toContain(`${join(d, 'notice.txt')} line 1: {{#hints}} is never closed`);
    writeFileSync(join(d, 'notice.txt'), 'ok');
    writeFileSync(join(d, 'digest.html'), '{{{headline}}}');
    expect(configError(() => loadTemplates(d)).message).toContain(`${join(d, 'digest.html')} line 1: unsupported tag`);
  });

  it('refuse a directory that is not there, or a file', () => {
    writeFileSync(join(dir, 'placeholder'), '');
    expect(configError(() => loadTemplates(join(dir, 'absent'))).message).toMatch(/notices\.templates_dir.*cannot read/);
    expect(configError(() => loadTemplates(join(dir, 'placeholder'))).message).toMatch(/is not a directory/);
  });

  it('are documented: controller/README.md names every field of the views', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../../../controller/README.md'), 'utf8').replace(/\s+/g, ' ');
    const names = (v: object): string[] =>
      Object.entries(v).flatMap(([k, x]) => [k, ...(x && typeof x === 'object' ? names(Array.isArray(x) ? (typeof x[0] === 'object' ? x[0] : {}) : x) : [])]);
    for (const [kind, view] of [['notice', sampleNoticeView()], ['digest', sampleDigestView()]] as const) {
      const part = readme.slice(readme.indexOf(`\`${kind}.*\` —`), readme.indexOf(kind === 'notice' ? '`digest.*` —' : '**Config**'));
      for (const n of names(view)) expect([kind, n, part.includes(n)]).toEqual([kind, n, true]);
    }
  });
});
