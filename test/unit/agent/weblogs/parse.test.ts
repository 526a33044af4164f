import { describe, expect, it } from 'vitest';
import { ApiPaths, DEFAULT_API_PATHS, DomainMap } from '../../../../agent/weblogs/attribute.js';
import { hostOf, newParsedLine, parseCombined, parseJson, parseVhostCombined, TimeCache } from '../../../../agent/weblogs/parse.js';

const parse = (fn: typeof parseVhostCombined, line: string) => {
  const out = newParsedLine();
  const ok = fn(line, 0, line.length, out, new TimeCache());
  return ok ? { ...out, uri: out.uriText.slice(out.uriStart, out.uriEnd), uriText: undefined } : undefined;
};

describe('access-log lines', () => {
  it('vhost_combined as Apache writes it', () => {
    const r = parse(parseVhostCombined, 'www.Alice.test:443 203.0.113.9 - - [06/Dec/2026:13:49:59 +0100] "GET /wp-json/wp/v2/posts?x=1 HTTP/1.1" 200 5123 "-" "curl/8"');
    expect(r).toMatchObject({ host: 'www.alice.test', status: 200, bytes: 5123, uri: '/wp-json/wp/v2/posts?x=1', minute: Date.UTC(2026, 11, 6, 12, 49) });
  });

  it('combined with "-" bytes, an escaped quote in the request and no user agent', () => {
    expect(parse(parseCombined, '::1 - bob [01/Jan/2027:00:00:00 -0030] "GET /a\\"b HTTP/1.0" 304 -')).toMatchObject({ host: '', status: 304, bytes: 0, minute: Date.UTC(2027, 0, 1, 0, 30) });
    expect(parse(parseCombined, '1.2.3.4 - - [01/Jan/2027:00:00:00 +0000] "-" 400 0 "-" "-"')).toMatchObject({ status: 400, uri: '' });
  });

  it('refuses what is not a line of the format', () => {
    for (const bad of [
      '',
      'garbage',
      'h:80 1.2.3.4 - - [06/Dec/2026:13:49:59 +0000] "GET / HTTP/1.1" 2x0 5',
      'h:80 1.2.3.4 - - [06/Foo/2026:13:49:59 +0000] "GET / HTTP/1.1" 200 5',
      'h:80 1.2.3.4 - - [06/Dec/2026:13:49:59 +0000] "GET / HTTP/1.1" 200 5x',
      'h:80 1.2.3.4 - - [06/Dec/2026:13:49:59 +0000] "GET / HTTP/1.1',
      'h:80 1.2.3.4 - - [06/Dec/2026:13:49:59 +0000] "GET / HTTP/1.1" 200 99999999999999999',
    ]) expect(parse(parseVhostCombined, bad), bad).toBeUndefined();
  });

  it('json lines (nginx escape=json) with ISO or epoch times', () => {
    const out = newParsedLine();
    expect(parseJson('{"host":"a.test","uri":"/api/x","status":"503","bytes":"12","time":"2026-12-06T13:49:59+00:00"}', 0, 99, out)).toBe(true);
    expect(out).toMatchObject({ host: 'a.test', status: 503, bytes: 12, minute: Date.UTC(2026, 11, 6, 13, 49) });
    const s = '{"host":"a.test","uri":"/","status":200,"bytes":1,"msec":"1796600000.123"}';
    expect(parseJson(s, 0, s.length, out)).toBe(true);
    expect(out.minute).toBe(Math.floor(1796600000.123 * 1000 / 60_000) * 60_000);
    expect(parseJson('{"host":"a.test"}', 0, 17, out)).toBe(false);
    expect(parseJson('[1]', 0, 3, out)).toBe(false);
  });

  it('time cache follows a change of minute and of zone', () => {
    const times = new TimeCache();
    const at = (s: string) => times.minuteAt(`[${s}]`, 0);
    expect(at('06/Dec/2026:13:49:59 +0000')).toBe(Date.UTC(2026, 11, 6, 13, 49));
    expect(at('06/Dec/2026:13:49:01 +0000')).toBe(Date.UTC(2026, 11, 6, 13, 49));
    expect(at('06/Dec/2026:13:50:00 +0000')).toBe(Date.UTC(2026, 11, 6, 13, 50));
    expect(at('06/Dec/2026:13:50:00 +0200')).toBe(Date.UTC(2026, 11, 6, 11, 50));
    expect(at('06/Dec/2026:25:50:00 +0200')).toBeNaN();
  });

  it('host of host:port', () => {
    expect(hostOf('A.test:80')).toBe('a.test');
    expect(hostOf('a.test.')).toBe('a.test');
    expect(hostOf('[::1]:8080')).toBe('[::1]');
    expect(hostOf('::1')).toBe('::1');
  });
});

describe('attribution', () => {
  const map = new DomainMap([
    { name: 'alice', domains: ['alice.test', '*.alice.test'] },
    { name: 'bob', domains: ['shop.alice.test', 'BOB.test.'] },
  ]);

  it('exact names first, then the nearest wildcard; a wildcard does not match its own base name', () => {
    expect(map.tenantOf('alice.test')).toBe('alice');
    expect(map.tenantOf('www.alice.test')).toBe('alice');
    expect(map.tenantOf('a.b.alice.test')).toBe('alice');
    expect(map.tenantOf('shop.alice.test')).toBe('bob');
    expect(map.tenantOf('bob.test')).toBe('bob');
    expect(map.tenantOf('xalice.test')).toBeUndefined();
    expect(map.tenantOf('www.bob.test')).toBeUndefined();
  });

  it('API paths: a prefix ending in / matches below it; one without matches itself, below, or with a query', () => {
    const api = new ApiPaths(DEFAULT_API_PATHS);
    const is = (uri: string) => api.matches({ ...newParsedLine(), uriText: uri, uriStart: 0, uriEnd: uri.length });
    expect(['/api/v1', '/wp-json/', '/xmlrpc.php', '/xmlrpc.php?x', '/graphql', '/graphql/q'].map(is)).toEqual([true, true, true, true, true, true]);
    expect(['/api', '/apix/', '/xmlrpc.phpx', '/graphqlx', '/', '/x/api/'].map(is)).toEqual([false, false, false, false, false, false]);
  });
});
