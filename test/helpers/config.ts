// The ConfigError a config reader throws for a document: what the agent's config tests assert on (key, message).
import { readAgentConfig } from '../../agent/config.js';
import { ConfigError } from '../../shared/errors.js';

export function agentConfigError(raw: unknown): ConfigError {
  try {
    readAgentConfig(raw);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}
