// Answers checked against the API's schemas (shared/wire/api.ts) before they are rendered for people, so an
// unexpected answer is a clear error, not a crash; and made printable (format.ts) on the way, so no renderer
// ever sees a control character the controller sent. Loaded only then: --json, --help and usage errors never
// load TypeBox, which is most of the start-up time of hostwardenctl.
import type { Static, TSchema } from 'typebox';
import type * as Schemas from '../shared/wire/api.js';
import type { Answer } from './client.js';
import { BadAnswerError } from './errors.js';
import { printableDeep } from './format.js';

type SchemaModule = typeof Schemas;
export type SchemaName = { [K in keyof SchemaModule]: SchemaModule[K] extends TSchema ? K : never }[keyof SchemaModule];
export type Shape<K extends SchemaName> = Static<Extract<SchemaModule[K], TSchema>>;

type Check = (value: unknown) => string[];
const checks = new Map<string, Check>();

/**
 * The answer's body as the schema `name` types it. Fields the schema does not know are allowed (a newer
 * controller may add some); anything missing or of another type is a BadAnswerError (exit 1). Every string and
 * key of the result is `printable`: control characters are data to show, not to act on.
 */
export async function checked<K extends SchemaName>(answer: Answer, name: K): Promise<Shape<K>> {
  let check = checks.get(name);
  if (!check) {
    const [schemas, { validator }] = await Promise.all([import('../shared/wire/api.js'), import('../shared/validate.js')]);
    const v = validator(schemas[name] as TSchema);
    check = (value) => (v.check(value) ? [] : v.problems(value, 50).filter((p) => !p.includes('unknown field')));
    checks.set(name, check);
  }
  const problems = check(answer.json);
  if (problems.length > 0) throw new BadAnswerError(`the controller's answer to ${answer.request} is not what this hostwardenctl expects: ${problems.slice(0, 3).join('; ')}`);
  return printableDeep(answer.json as Shape<K>);
}
