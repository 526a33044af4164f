// Errors of hostwardenctl, each with a stable code and the exit status it ends the program with:
// 2 for what the admin typed or configured (usage, ctl.yaml, token file), 1 for what went wrong at run time
// (the controller down, an HTTP error, an answer that is not what the API documents).
import { ConfigError, EXIT_RUNTIME, EXIT_USAGE, HostwardenError, UsageError } from '../shared/errors.js';

/** A setting of the CLI is wrong or cannot be read (ctl.yaml, --url, the token file): exit 2. */
export class CtlConfigError extends HostwardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HW_CTL_CONFIG', message, options);
  }
}

/** No HTTP answer at all: connection refused, host not found, timeout. Exit 1. */
export class UnreachableError extends HostwardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HW_CTL_UNREACHABLE', message, options);
  }
}

/** The controller answered with an error status; `apiCode` is its `error` field. Exit 1. */
export class ControllerError extends HostwardenError {
  constructor(
    readonly status: number,
    readonly apiCode: string,
    message: string,
  ) {
    super('HW_CTL_HTTP', message);
  }
}

/** The controller answered 2xx with a body that is not what the API documents. Exit 1. */
export class BadAnswerError extends HostwardenError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('HW_CTL_ANSWER', message, options);
  }
}

/** The exit status an error ends hostwardenctl with. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof ConfigError || err instanceof CtlConfigError) return EXIT_USAGE;
  return EXIT_RUNTIME;
}
