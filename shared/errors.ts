// Errors with stable codes (STYLE 13): a base class, one subclass per failure, a code callers can match.

export class HostwardenError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A configuration problem: names the key, exits 2. */
export class ConfigError extends HostwardenError {
  readonly key: string;
  constructor(key: string, message: string, options?: { cause?: unknown }) {
    super('HW_CONFIG', `config key "${key}": ${message}`, options);
    this.key = key;
  }
}

/** Wrong command-line usage: exits 2. */
export class UsageError extends HostwardenError {
  constructor(message: string) {
    super('HW_USAGE', message);
  }
}

export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;
