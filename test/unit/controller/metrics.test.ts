import { describe, expect, it } from 'vitest';
import { RateMeter, Registry } from '../../../controller/metrics.js';

describe('Prometheus exposition', () => {
  it('renders counters, gauges and histograms in text format 0.0.4', async () => {
    const r = new Registry();
    const c = r.counter('hw_things_total', 'things');
    const g = r.gauge('hw_level', 'a "level"\nwith a newline');
    const h = r.histogram('hw_seconds', 'time', [0.1, 1]);
    c.inc({ result: 'ok' });
    c.inc({ result: 'ok' }, 2);
    c.inc({ result: 'say "hi"\\' });
    r.onCollect(() => g.set(7));
    h.observe(0.05);
    h.observe(0.5);
    h.observe(5);
    expect(await r.render()).toBe(
      [
        '# HELP hw_things_total things',
        '# TYPE hw_things_total counter',
        'hw_things_total{result="ok"} 3',
        'hw_things_total{result="say \\"hi\\"\\\\"} 1',
        '# HELP hw_level a "level"\\nwith a newline',
        '# TYPE hw_level gauge',
        'hw_level 7',
        '# HELP hw_seconds time',
        '# TYPE hw_seconds histogram',
        'hw_seconds_bucket{le="0.1"} 1',
        'hw_seconds_bucket{le="1"} 2',
        'hw_seconds_bucket{le="+Inf"} 3',
        'hw_seconds_sum 5.55',
        'hw_seconds_count 3',
        '',
      ].join('\n'),
    );
    expect(h.quantileBound(0.5)).toBe(1);
  });

  it('measures a rate over whole seconds', () => {
    let t = 10_000;
    const m = new RateMeter(10, () => t);
    for (let s = 0; s < 10; s++) {
      m.add(50);
      t += 1000;
    }
    expect(m.rate()).toBe(50);
    t += 20_000;
    expect(m.rate()).toBe(0);
  });
});
