// Reading YAML config with every error naming its key (exit 2). Both daemons build their typed config
// from a `Section` tree: each accessor knows its path, so `plans.basic.memory: invalid size "lots"` is
// what the admin sees. Unknown keys are errors too: a typo must not silently fall back to a default.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './errors.js';
import { parseDuration, parseRate, parseSize, UnitError } from './units.js';

type Raw = Record<string, unknown>;

export function loadYamlFile(file: string, keyForMissing = 'config'): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(keyForMissing, `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError('(yaml)', `${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
}

export class Section {
  private readonly seen = new Set<string>();
  constructor(
    readonly raw: Raw,
    readonly path: string,
  ) {}

  static root(value: unknown, what = 'config'): Section {
    if (value === null || value === undefined) return new Section({}, '');
    if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(what, 'must be a mapping of keys to values');
    return new Section(value as Raw, '');
  }

  key(name: string): string {
    return this.path ? `${this.path}.${name}` : name;
  }

  has(name: string): boolean {
    return this.raw[name] !== undefined && this.raw[name] !== null;
  }

  private get(name: string): unknown {
    this.seen.add(name);
    const v = this.raw[name];
    return v === null ? undefined : v;
  }

  fail(name: string, message: string): never {
    throw new ConfigError(this.key(name), message);
  }

  string(name: string, def: string): string;
  string(name: string, def?: undefined): string | undefined;
  string(name: string, def?: string): string | undefined {
    const v = this.get(name);
    if (v === undefined) return def;
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string') this.fail(name, `must be a string, got ${describe(v)}`);
    return v;
  }

  boolean(name: string, def: boolean): boolean {
    const v = this.get(name);
    if (v === undefined) return def;
    if (typeof v !== 'boolean') this.fail(name, `must be true or false, got ${describe(v)}`);
    return v;
  }

  number(name: string, def: number, opts?: { min?: number; max?: number; integer?: boolean }): number;
  number(name: string, def: undefined, opts?: { min?: number; max?: number; integer?: boolean }): number | undefined;
  number(name: string, def: number | undefined, opts: { min?: number; max?: number; integer?: boolean } = {}): number | undefined {
    const v = this.get(name);
    if (v === undefined) return def;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) this.fail(name, `must be a number, got ${describe(v)}`);
    if (opts.integer && !Number.isInteger(n)) this.fail(name, `must be a whole number, got ${n}`);
    if (opts.min !== undefined && n < opts.min) this.fail(name, `must be at least ${opts.min}, got ${n}`);
    if (opts.max !== undefined && n > opts.max) this.fail(name, `must be at most ${opts.max}, got ${n}`);
    return n;
  }

  /** Milliseconds. */
  duration(name: string, def: string, opts?: { min?: number }): number;
  duration(name: string, def?: undefined, opts?: { min?: number }): number | undefined;
  duration(name: string, def?: string, opts: { min?: number } = {}): number | undefined {
    return this.unit(name, def, parseDuration, opts.min, (n) => `${n}ms`);
  }

  /** Bytes. */
  size(name: string, def?: string | number): number | undefined {
    return this.unit(name, def, parseSize, 1, (n) => `${n} bytes`);
  }

  /** Bytes per second. */
  rate(name: string, def?: string | number): number | undefined {
    return this.unit(name, def, parseRate, 1, (n) => `${n} bytes/s`);
  }

  private unit(name: string, def: string | number | undefined, parse: (v: string | number) => number, min: number | undefined, show: (n: number) => string): number | undefined {
    const v = this.get(name) ?? def;
    if (v === undefined) return undefined;
    if (typeof v !== 'string' && typeof v !== 'number') this.fail(name, `must be a string or number, got ${describe(v)}`);
    let n: number;
    try {
      n = parse(v);
    } catch (err) {
      if (err instanceof UnitError) this.fail(name, err.message);
      throw err;
    }
    if (min !== undefined && n < min) this.fail(name, `must be at least ${show(min)}, got ${JSON.stringify(v)}`);
    return n;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], def: T): T {
    const v = this.string(name, def);
    if (!allowed.includes(v as T)) this.fail(name, `must be one of ${allowed.join(', ')}, got "${v}"`);
    return v as T;
  }

  section(name: string): Section {
    const v = this.get(name);
    if (v === undefined) return new Section({}, this.key(name));
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(name, `must be a mapping, got ${describe(v)}`);
    return new Section(v as Raw, this.key(name));
  }

  /** The entries of a mapping whose keys are names (plans: { basic: {...} }). */
  entries(name: string): Array<[string, Section]> {
    const s = this.section(name);
    return Object.keys(s.raw).map((k) => [k, s.section(k)]);
  }

  /** A list of mappings; each item's path is `name[i]`. */
  list(name: string): Section[] {
    const v = this.get(name);
    if (v === undefined) return [];
    if (!Array.isArray(v)) this.fail(name, `must be a list, got ${describe(v)}`);
    return v.map((item, i) => {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) {
        throw new ConfigError(`${this.key(name)}[${i}]`, `must be a mapping, got ${describe(item)}`);
      }
      return new Section(item as Raw, `${this.key(name)}[${i}]`);
    });
  }

  /** A list of scalars (strings or numbers). */
  scalars(name: string): Array<string | number> {
    const v = this.get(name);
    if (v === undefined) return [];
    const arr = Array.isArray(v) ? v : [v];
    return arr.map((item, i) => {
      if (typeof item !== 'string' && typeof item !== 'number') throw new ConfigError(`${this.key(name)}[${i}]`, `must be a string or number, got ${describe(item)}`);
      return item;
    });
  }

  /** Call after reading: any key not read is a typo or an unsupported option. */
  done(): void {
    for (const k of Object.keys(this.raw)) {
      if (!this.seen.has(k)) throw new ConfigError(this.key(k), 'unknown key (check the spelling; see the configuration reference in README.md)');
    }
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}
