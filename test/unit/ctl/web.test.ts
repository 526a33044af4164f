import { describe, expect, it } from 'vitest';
import { renderWeb } from '../../../ctl/commands/web.js';

const view = { width: 100, color: false, now: Date.UTC(2026, 11, 6, 14) };

describe('hostwardenctl web', () => {
  it('prints the exact totals, then the minutes', () => {
    const text = renderWeb(
      {
        tenant: 'alice',
        from: '2026-12-06T13:00:00.000Z',
        to: '2026-12-06T14:00:00.000Z',
        requests: 1510,
        api_calls: 270,
        pushed_api_calls: 42,
        bytes: 245_110,
        errors_5xx: 67,
        minutes: [{ minute: '2026-12-06T13:05:00.000Z', requests: 1510, api_calls: 270, pushed_api_calls: 42, bytes: 245_110, errors_5xx: 67 }],
      },
      view,
    );
    expect(text.split('\n')[0]).toContain('1510 requests, 270 API calls (+42 pushed)');
    expect(text).toContain('245110 bytes');
    expect(text).toMatch(/MINUTE\s+REQUESTS\s+API\s+PUSHED\s+SENT\s+5XX/);
  });

  it('says so when there is nothing', () => {
    expect(renderWeb({ tenant: 'bob', from: '2026-12-06T13:00:00.000Z', to: '2026-12-06T14:00:00.000Z', requests: 0, api_calls: 0, pushed_api_calls: 0, bytes: 0, errors_5xx: 0, minutes: [] }, view)).toContain('no requests in this range');
  });
});
