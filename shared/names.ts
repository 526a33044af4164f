// Name rules shared by every part (no dependencies, so the CLI can use them without loading TypeBox).
/** Tenant, plan and cgroup names: safe as file names and nftables object names. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
export const HOST_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$';
export const NAME_RE = new RegExp(NAME_PATTERN);
export const HOST_RE = new RegExp(HOST_PATTERN);
