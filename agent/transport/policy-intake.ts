// The policy as the agent takes it from the controller (DESIGN section 5, compatibility): fields this agent
// does not know, at any level, are dropped before the shape is checked, so a policy from a newer
// controller is applied as far as this agent understands it. Everything the agent does know is checked
// as strictly as before; the shared PolicySchema itself stays strict for the controller's side.
import { Value } from 'typebox/value';
import { validator } from '../../shared/validate.js';
import { PolicySchema, type Policy } from '../../shared/wire/agent.js';

const policyValidator = validator(PolicySchema);

export type PolicyIntake = { ok: true; policy: Policy } | { ok: false; error: string };

/** Pure: a policy body (JSON text) to a policy this agent can apply, or why not. */
export function parsePolicy(text: string): PolicyIntake {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, error: 'controller sent invalid JSON' };
  }
  // Clean mutates: the parsed value is ours alone. Unknown properties go; values of known ones stay as sent.
  const cleaned = Value.Clean(PolicySchema, body);
  if (!policyValidator.check(cleaned)) return { ok: false, error: `unexpected shape: ${policyValidator.problems(cleaned).join('; ')}` };
  return { ok: true, policy: cleaned };
}
