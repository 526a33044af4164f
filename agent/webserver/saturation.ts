// Contention for API calls: the web server's saturation, read as the accept queues of its listening sockets and
// PHP-FPM's (`ss -Hltnx`: Recv-Q of a listening socket is the number of connections the kernel completed that
// the server has not accepted yet). A web server with a free worker accepts at once; an FPM pool's workers
// accept only when idle, so a queue on its socket means every worker is busy (the pool status page's "listen
// queue" is this same number). The longest queue among the watched sockets is the signal; a socket watched
// but not listening (a server stopped) is simply absent. Nothing readable: no signal (policy/api-cap.ts says
// so in the explanation), never an error of the tick.
import { spawnSync } from 'node:child_process';
import { type CollectContext, type Collector, NoData } from '../collectors/collector.js';
import type { WebSaturation } from '../policy/types.js';

export interface Listener {
  /** tcp or unix. */
  kind: 'tcp' | 'unix';
  /** Local address as ss prints it: `127.0.0.1:80`, `[::]:443`, `*:80`, or a unix socket's path. */
  local: string;
  /** Connections waiting to be accepted. */
  queued: number;
  /** The listen backlog (Send-Q of a listening socket). */
  backlog: number;
}

/** `ss -Hltnx` output, listening sockets only. Lines that do not parse are skipped. */
export function parseSs(text: string): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || f[1] !== 'LISTEN') continue;
    const kind = f[0] === 'tcp' ? 'tcp' : f[0] === 'u_str' || f[0] === 'u_seq' ? 'unix' : undefined;
    const queued = Number(f[2]);
    const backlog = Number(f[3]);
    if (!kind || !Number.isSafeInteger(queued) || !Number.isSafeInteger(backlog) || queued < 0) continue;
    out.push({ kind, local: f[4]!, queued, backlog });
  }
  return out;
}

/**
 * Whether a listener is one of the watched: a port number (any address), `ADDR:PORT` (`[::1]:443` for IPv6),
 * or an absolute unix socket path.
 */
export function watched(l: Listener, watch: readonly (string | number)[]): boolean {
  for (const w of watch) {
    if (typeof w === 'number') {
      if (l.kind === 'tcp' && portOf(l.local) === w) return true;
    } else if (w.startsWith('/')) {
      if (l.kind === 'unix' && l.local === w) return true;
    } else if (l.kind === 'tcp' && stripScope(l.local) === w) return true;
  }
  return false;
}

function portOf(local: string): number | undefined {
  const i = local.lastIndexOf(':');
  return i < 0 ? undefined : Number(local.slice(i + 1));
}

/** `[fe80::1%eth0]:80` -> `[fe80::1]:80`, `127.0.0.1%lo:80` -> `127.0.0.1:80` (ss prints the interface of a bound address). */
function stripScope(local: string): string {
  return local.replace(/%[^\]:]*/, '');
}

/** The signal from the listeners: the longest queue among the watched. */
export function saturationOf(listeners: readonly Listener[], watch: readonly (string | number)[], threshold: number): WebSaturation {
  const mine = listeners.filter((l) => watched(l, watch));
  if (mine.length === 0) return { readable: false, queued: 0, socket: '', threshold, why: `none of the watched sockets (${watch.join(', ')}) is listening` };
  const top = mine.reduce((a, b) => (b.queued > a.queued ? b : a));
  return { readable: true, queued: top.queued, socket: top.local, threshold };
}

export class WebSaturationCollector implements Collector {
  readonly name = 'web_saturation';

  constructor(
    private readonly watch: readonly (string | number)[],
    private readonly threshold: number,
    private readonly ss: string = 'ss',
  ) {}

  collect(ctx: CollectContext): void | NoData {
    const r = spawnSync(this.ss, ['-Hltnx'], { encoding: 'utf8', timeout: 5000, maxBuffer: 16 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error || r.status !== 0) {
      const why = r.error ? `cannot run ${this.ss}: ${r.error.message}` : `${this.ss} exited ${r.status ?? r.signal}: ${(r.stderr ?? '').trim().slice(0, 200)}`;
      ctx.web = { readable: false, queued: 0, socket: '', threshold: this.threshold, why };
      return new NoData(why);
    }
    ctx.web = saturationOf(parseSs(r.stdout), this.watch, this.threshold);
  }
}
