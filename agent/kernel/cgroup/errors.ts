// The cgroup layer's failures, one class per kind, each with a stable code callers can match (STYLE 13).
import { CgroupError } from './driver.js';

/** Kernel text that does not have the documented shape: `Cannot parse memory.stat: line 3 has 1 field`. */
export class CgroupParseError extends CgroupError {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`Cannot parse ${file}: ${detail}`, { code: 'HW_CGROUP_PARSE' });
  }
}

/** A tenant name that must never become part of a path. */
export class InvalidTenantError extends CgroupError {
  constructor(readonly tenant: string) {
    super(`invalid tenant name ${JSON.stringify(tenant)}: must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ and not be "." or ".."`, {
      code: 'HW_CGROUP_TENANT',
    });
  }
}

/** A limit value the kernel would reject or misread; nothing was written. */
export class InvalidLimitError extends CgroupError {
  constructor(
    readonly field: string,
    value: unknown,
    rule: string,
  ) {
    super(`invalid limit ${field}=${JSON.stringify(value)}: ${rule}`, { code: 'HW_CGROUP_LIMIT' });
  }
}

/** The cgroup still holds tasks (or child cgroups), or the kernel answered EBUSY to a limit write. */
export class CgroupBusyError extends CgroupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'HW_CGROUP_BUSY' });
  }
}

/** The controller or interface file does not exist on this host (e.g. no memory controller). */
export class CgroupUnsupportedError extends CgroupError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'HW_CGROUP_UNSUPPORTED' });
  }
}

/** A control-file write the kernel refused, or one that did not take when read back. */
export class CgroupWriteError extends CgroupError {
  constructor(
    readonly file: string,
    message: string,
    readonly errno?: string,
    options?: { cause?: unknown },
  ) {
    super(message, { ...options, code: 'HW_CGROUP_WRITE' });
  }
}

/** The process to move no longer exists (ESRCH): placement may simply go on. */
export class NoSuchProcessError extends CgroupError {
  constructor(readonly pid: number) {
    super(`process ${pid} does not exist (any more)`, { code: 'HW_CGROUP_NO_PROCESS' });
  }
}

/** The kernel did not reach the asked state (frozen, thawed, empty) within the bound. */
export class CgroupTimeoutError extends CgroupError {
  constructor(message: string) {
    super(message, { code: 'HW_CGROUP_TIMEOUT' });
  }
}
