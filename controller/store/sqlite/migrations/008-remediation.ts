// Migration 8: remediation cases (controller/remediation). One row per case: the columns the queries filter on
// (tenant, rule, state, step_state, times in ms since the epoch) beside the whole case as JSON (`body`, the API's
// shape, checked against RemediationCaseSchema when read). The key that signs tenants' acknowledgement links is
// a `meta` row (`remediation_link_key`, hex), made on first use.
export const MIGRATION_008 = `
CREATE TABLE remediation_cases (
  id INTEGER PRIMARY KEY,
  tenant TEXT NOT NULL,
  host TEXT NOT NULL,
  rule TEXT,
  state TEXT NOT NULL,
  step_state TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  deadline INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE INDEX remediation_cases_state ON remediation_cases(state, deadline);
CREATE INDEX remediation_cases_tenant_rule ON remediation_cases(tenant, rule, opened_at);
`;
