// The one rule for an email address, wherever one comes in (agent.yaml tenants, the tenant directory of a
// report, PUT /v1/tenants, the controller's admin copies) and wherever one goes out (the API's answers): a
// pragmatic addr-spec, so that what is accepted can always be stored, listed, serialized and mailed.
//   local part  a dot-atom: RFC 5322 atext runs joined by single dots, at most 64 characters;
//               no quoted strings, no comments, no whitespace, no control characters
//   domain      host name labels (letters, digits, inner hyphens, at most 63 each) joined by dots, at
//               least two labels (`root@localhost` is refused: a notice must reach the tenant elsewhere);
//               internationalized domains in their ASCII (punycode) form
//   whole       at most 254 characters (RFC 5321's path limit less the angle brackets)
// No dependencies (like names.ts), so the CLI and config readers use it without loading TypeBox. The pattern
// is a JSON Schema `pattern` too (ECMA-262 syntax, valid with and without the `u` flag), so the schemas
// carry the same rule as `isEmail`, and the OpenAPI document states it.

export const EMAIL_MAX_LENGTH = 254;

const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';

export const EMAIL_PATTERN = `^(?=[^@]{1,64}@)(?=.{1,${EMAIL_MAX_LENGTH}}$)${ATEXT}+(?:\\.${ATEXT}+)*@${LABEL}(?:\\.${LABEL})+$`;
export const EMAIL_RE = new RegExp(EMAIL_PATTERN);

/** True when `text` is an address this system accepts (see the header). */
export function isEmail(text: string): boolean {
  return EMAIL_RE.test(text);
}

/** A schema-free description of the rule, for error messages. */
export const EMAIL_RULE = 'user@example.com: no spaces, quotes or control characters, a domain with a dot, at most 254 characters';
