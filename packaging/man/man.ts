// Manual pages of the packaged programs, made at package time from the programs' own --help text (so the
// page and the program cannot disagree) and a hand-written roff part per program (packaging/man/NAME.in).
// Run by the pinned Node 24:
//
//   node packaging/man/man.ts NODE SCRIPT NAME VERSION DATE [--commands]
//
// NODE SCRIPT --help is the program's help. --commands (hostwardenctl): the help lists commands, and each
// command's own `COMMAND --help` becomes a subsection of COMMANDS. The roff page goes to stdout.
//
// NAME.in: a line `summary: TEXT` (the NAME line), optionally `description:` ... `end` (roff put at the
// start of DESCRIPTION), then roff sections appended to the page (FILES, SEE ALSO, ...).
//
// Help text layout understood: a `usage:` line; paragraphs; item blocks of lines "  TERM  TEXT" (two or more
// spaces between), continuation lines indented deeper, under an optional header line ending in ":"
// ("options:", "commands:", "global options (anywhere on the line):"); "Exit codes: ..." paragraphs.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Item {
  term: string;
  text: string;
}
export type Block = { kind: 'usage'; text: string } | { kind: 'para'; text: string } | { kind: 'items'; header: string | undefined; items: Item[] };

/** Splits a help text into its usage line, paragraphs and item blocks. */
export function parseHelp(help: string): Block[] {
  const blocks: Block[] = [];
  const chunks = help.replace(/\r/g, '').replace(/\s+$/, '').split(/\n\s*\n/);
  for (const chunk of chunks) {
    const lines = chunk.split('\n');
    const first = lines[0]!;
    const usage = /^usage:\s*(.+)$/i.exec(first);
    if (usage) {
      blocks.push({ kind: 'usage', text: [usage[1]!, ...lines.slice(1).map((l) => l.trim())].join(' ') });
      continue;
    }
    let header: string | undefined;
    let rest = lines;
    if (/^\S.*:$/.test(first) && lines.length > 1 && /^\s{2,}\S/.test(lines[1]!)) {
      header = first.slice(0, -1);
      rest = lines.slice(1);
    }
    if (rest.every((l) => /^\s{2,}\S/.test(l)) && /^\s{2,}\S+(?:\s\S+)*?\s{2,}\S/.test(rest[0]!)) {
      const items: Item[] = [];
      for (const line of rest) {
        const m = /^(\s{2,})(\S+(?: \S+)*?)\s{2,}(\S.*)$/.exec(line);
        const last = items[items.length - 1];
        if (m && (!last || m[1]!.length <= 4)) items.push({ term: m[2]!, text: m[3]!.trim() });
        else if (last) last.text += ` ${line.trim()}`;
      }
      blocks.push({ kind: 'items', header, items });
      continue;
    }
    // A header with a one-line body ("global options: --url, ...") or a plain paragraph.
    blocks.push({ kind: 'para', text: lines.map((l) => l.trim()).join(header === undefined ? ' ' : '\n') });
  }
  return blocks;
}

/** Text escaped for roff: backslashes, a leading dot or quote, and hyphens of options as minus signs. */
export function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/(^|\s|\[|\(|,|\|)--?(?=[A-Za-z])/g, (m) => m.replace(/-/g, '\\-'))
    .replace(/^([.'])/gm, '\\&$1');
}

/** "--config FILE" -> bold option, italic argument. */
function term(t: string): string {
  const words = t.split(' ');
  return words.map((w, i) => (i === 0 || /^-/.test(w) ? `\\fB${roff(w)}\\fR` : `\\fI${roff(w)}\\fR`)).join(' ');
}

function items(list: Item[]): string {
  // "this text" is the help speaking of itself; on a manual page it prints the help.
  return list.map((i) => `.TP\n${term(i.term)}\n${roff(i.text.replace(/^this text\b/, 'print the help'))}`).join('\n');
}

const SECTION_OF_HEADER: Array<[RegExp, string]> = [
  [/^commands$/i, 'COMMANDS'],
  [/^arguments$/i, 'ARGUMENTS'],
  [/options/i, 'OPTIONS'],
  [/^examples$/i, 'EXAMPLES'],
];

/** The page's body sections (SYNOPSIS, DESCRIPTION, OPTIONS, ...) from one help text. */
function sections(blocks: Block[], name: string, description: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (s: string, text: string) => out.set(s, [...(out.get(s) ?? []), text]);
  if (description) add('DESCRIPTION', description);
  let seenItems = false;
  for (const b of blocks) {
    if (b.kind === 'usage') {
      const rest = b.text.startsWith(name) ? b.text.slice(name.length) : ` ${b.text}`;
      add('SYNOPSIS', `.B ${name}\n${roff(rest.trim())}`);
    } else if (b.kind === 'items') {
      seenItems = true;
      const s = SECTION_OF_HEADER.find(([re]) => b.header !== undefined && re.test(b.header))?.[1] ?? (b.header === undefined ? 'OPTIONS' : b.header.toUpperCase());
      const note = s === 'OPTIONS' && b.header && b.header.toLowerCase() !== 'options' ? `${roff(b.header[0]!.toUpperCase() + b.header.slice(1))}:\n` : '';
      if (s === 'EXAMPLES') add(s, `.nf\n${b.items.map((i) => roff(`${i.term}  ${i.text}`)).join('\n')}\n.fi`);
      else add(s, `${note}${items(b.items)}`);
    } else if (/^exit codes:/i.test(b.text)) {
      add('EXIT STATUS', roff(b.text.replace(/^exit codes:\s*/i, '')));
    } else if (/^signals:/i.test(b.text)) {
      add('SIGNALS', roff(b.text.replace(/^signals:\s*/i, '')));
    } else if (/^examples:\n/i.test(b.text)) {
      add('EXAMPLES', `.nf\n${roff(b.text.replace(/^examples:\n/i, ''))}\n.fi`);
    } else if (/^[a-z ]+:\s/i.test(b.text) && !b.text.includes('\n') && b.text.length < 200 && /^global options:/i.test(b.text)) {
      add('OPTIONS', roff(b.text));
    } else {
      add(seenItems ? 'NOTES' : 'DESCRIPTION', roff(b.text));
    }
  }
  return out;
}

export interface ManInput {
  name: string;
  version: string;
  date: string;
  help: string;
  fragment: string;
  /** hostwardenctl: each command's own help. */
  commandHelp?: Map<string, string>;
}

export function makeManPage(input: ManInput): string {
  const summary = /^summary:\s*(.+)$/m.exec(input.fragment)?.[1];
  if (!summary) throw new Error(`the man fragment of ${input.name} has no "summary:" line`);
  const desc = /^description:\n([\s\S]*?)^end$/m.exec(input.fragment)?.[1]?.trim() ?? '';
  const tail = input.fragment
    .replace(/^summary:.*\n/m, '')
    .replace(/^description:\n[\s\S]*?^end\n/m, '')
    .trim();
  const blocks = parseHelp(input.help);
  const secs = sections(blocks, input.name, desc);
  if (input.commandHelp && input.commandHelp.size > 0) {
    const subs: string[] = [];
    for (const [cmd, help] of input.commandHelp) {
      const sub = sections(parseHelp(help), input.name, '');
      const parts = [`.SS ${cmd}`, ...(sub.get('SYNOPSIS') ?? []).map((s) => s.replace(/^\.B .*\n/, `.B ${input.name}\n`))];
      for (const s of ['DESCRIPTION', 'ARGUMENTS', 'OPTIONS', 'NOTES']) for (const t of sub.get(s) ?? []) parts.push('.PP', t.replace(/^global options:.*$/im, '').trim());
      for (const t of sub.get('EXAMPLES') ?? []) parts.push('.PP\nExamples:', t);
      subs.push(parts.filter((p) => p !== '').join('\n'));
    }
    secs.set('COMMANDS', [...(secs.get('COMMANDS') ?? []), '.PP\nEach command in full:', ...subs]);
  }
  const order = ['SYNOPSIS', 'DESCRIPTION', 'ARGUMENTS', 'COMMANDS', 'OPTIONS', 'SIGNALS', 'NOTES', 'EXAMPLES', 'EXIT STATUS'];
  const out = [
    `.\\" Generated by packaging/man/man.ts from \`${input.name} --help\` and packaging/man/${input.name}.in: edit those.`,
    `.TH ${input.name.toUpperCase()} 1 "${input.date}" "hostwarden ${input.version}" "hostwarden"`,
    '.SH NAME',
    `${input.name} \\- ${roff(summary)}`,
  ];
  for (const s of order) {
    const parts = secs.get(s);
    if (!parts) continue;
    out.push(`.SH ${s}`, parts.join('\n.PP\n'));
  }
  for (const s of secs.keys()) if (!order.includes(s)) out.push(`.SH ${s}`, secs.get(s)!.join('\n.PP\n'));
  if (tail) out.push(tail);
  return `${out.join('\n').replace(/\n\.PP\n\.PP\n/g, '\n.PP\n')}\n`;
}

if (import.meta.main) {
  const [node, script, name, version, date, flag] = process.argv.slice(2);
  if (!node || !script || !name || !version || !date) {
    process.stderr.write('usage: node packaging/man/man.ts NODE SCRIPT NAME VERSION DATE [--commands]\n');
    process.exit(2);
  }
  const helpOf = (args: string[]) => execFileSync(node, [script, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NO_COLOR: '1', COLUMNS: '110' } });
  try {
    const help = helpOf(['--help']);
    const fragment = readFileSync(join(dirname(fileURLToPath(import.meta.url)), `${name}.in`), 'utf8');
    let commandHelp: Map<string, string> | undefined;
    if (flag === '--commands') {
      commandHelp = new Map();
      const commands = parseHelp(help).find((b): b is Extract<Block, { kind: 'items' }> => b.kind === 'items' && /^commands$/i.test(b.header ?? ''));
      if (!commands) throw new Error(`${name} --help lists no "commands:"`);
      for (const c of commands.items) {
        const cmd = c.term.split(' ')[0]!;
        commandHelp.set(cmd, helpOf([cmd, '--help']));
      }
    }
    process.stdout.write(makeManPage({ name, version, date, help, fragment, ...(commandHelp ? { commandHelp } : {}) }));
  } catch (err) {
    process.stderr.write(`man: ${(err as Error).message}\n`);
    process.exit(1);
  }
}
