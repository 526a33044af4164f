// Migration 3: what the agents report about the tenants they govern (the optional `tenants` directory of a
// report: email, plan, uids, where the agent got it), kept per tenant as JSON.
export const MIGRATION_003 = `
ALTER TABLE tenants ADD COLUMN reported TEXT;
`;
