// Compile a schema once; check values and describe the first problems in words a client can act on.
import type { TSchema, Static } from 'typebox';
import { Compile } from 'typebox/compile';

export interface Validator<T extends TSchema> {
  check(value: unknown): value is Static<T>;
  /** Up to `max` problems, each "at /samples/0/cpu/percent: must be >= 0"; empty when valid. */
  problems(value: unknown, max?: number): string[];
}

export function validator<T extends TSchema>(schema: T): Validator<T> {
  const compiled = Compile(schema);
  return {
    check: (value: unknown): value is Static<T> => compiled.Check(value),
    problems(value: unknown, max = 5): string[] {
      const out: string[] = [];
      for (const e of compiled.Errors(value)) {
        if (e.keyword === 'boolean') continue; // the generic "schema is false" twin of additionalProperties
        let detail = e.message;
        const extra = (e.params as { additionalProperties?: unknown }).additionalProperties;
        if (e.keyword === 'additionalProperties' && Array.isArray(extra)) detail = `unknown field(s) ${extra.map((k) => `"${k}"`).join(', ')}`;
        out.push(`at ${e.instancePath || '/'}: ${detail}`);
        if (out.length >= max) break;
      }
      return out;
    },
  };
}
