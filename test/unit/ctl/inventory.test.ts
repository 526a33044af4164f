// `hostwardenctl host HOST` with the host's inventory: its fields in the command's "label: value" layout under
// the collectors, a line per disk, home filesystem and network interface; "not reported yet" before the agent
// sent one; nothing at all from a controller that predates the inventory.
import { describe, expect, it } from 'vitest';
import { renderHost } from '../../../ctl/commands/fleet.js';
import { formatLinkSpeed } from '../../../ctl/inventory.js';
import { validator } from '../../../shared/validate.js';
import { HostDetailSchema } from '../../../shared/wire/api.js';
import { HOST_DETAIL, HOSTS, NOW } from './fixtures.js';

const view = { width: 100, color: false, now: NOW };

describe('host HOST: the inventory', () => {
  it('the fixture is what GET /v1/hosts/{host} answers', () => {
    expect(validator(HostDetailSchema).problems(HOST_DETAIL)).toEqual([]);
  });

  it('inventory: rendered field by field after the collectors', () => {
    const out = renderHost(HOST_DETAIL, view);
    const tail = out.slice(out.indexOf('\ninventory:\n'));
    expect(out.indexOf('collectors of the latest report')).toBeLessThan(out.indexOf('\ninventory:\n'));
    expect(tail).toBe(
      [
        '',
        'inventory:',
        '  gathered:         2025-01-31 10:59Z (1h ago)',
        '  reported:         2025-01-31 11:00Z (1h ago)',
        '  os:               Debian GNU/Linux 12 (bookworm)',
        '  kernel:           6.1.0-18-amd64, x64',
        '  cpu model:        AMD EPYC 7302',
        '  cpu:              16 cores, 32 threads',
        '  memory total:     64.0 GiB',
        '  disk:             /dev/nvme0n1, 3.49 TiB, NVMe, SAMSUNG MZQL23T8HCLS',
        '  disk:             /dev/sda, 3.91 TiB, HD',
        '  home filesystem:  /home, xfs, 3.42 TiB',
        '  network:          eno1, 10 Gbit/s',
        '  network:          eno2, 100 Mbit/s',
        '  network:          br0, speed unknown, virtual',
        '',
      ].join('\n'),
    );
  });

  it('says when none was reported yet, and shows nothing from a controller without the field', () => {
    expect(renderHost({ ...HOSTS[0]!, inventory: null }, view)).toMatch(/\n\ninventory: {2}not reported yet \(the agent sends it at start and daily\)\n$/);
    expect(renderHost(HOSTS[0]!, view)).not.toContain('inventory');
    expect(validator(HostDetailSchema).problems(HOSTS[0])).toEqual([]);
  });

  it('link speeds in words', () => {
    expect([formatLinkSpeed(undefined), formatLinkSpeed(100), formatLinkSpeed(1000), formatLinkSpeed(2500), formatLinkSpeed(25000)]).toEqual([
      'speed unknown',
      '100 Mbit/s',
      '1 Gbit/s',
      '2.5 Gbit/s',
      '25 Gbit/s',
    ]);
  });
});
