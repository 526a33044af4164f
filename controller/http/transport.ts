// How each host's agent reaches the controller: over TLS or plain HTTP, from loopback or across the network.
// Every request authenticated with an agent token is noted (its host, scheme, peer address); a plain HTTP
// request from an address that is not loopback means that host's token crossed the network unencrypted, which
// is logged once per host (again when it changes) and shown in GET /v1/hosts and GET /v1/hosts/{host}
// (shared/wire/transport.ts).
//
// The state is one small record per host in memory (bounded by the agents in controller.yaml, since only
// their tokens authenticate): after a restart it is empty until each host's next request. A TLS proxy in
// front of the controller on the same machine talks plain HTTP from loopback: not flagged, as it should be.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { HostTransport } from '../../shared/wire/transport.js';

export interface TransportSeen {
  transport: 'http' | 'https';
  peer: string;
  at: number;
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase().replace(/^::ffff:/, '');
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

export function isInsecure(seen: TransportSeen): boolean {
  return seen.transport === 'http' && !isLoopbackAddress(seen.peer);
}

export class TransportTracker {
  private readonly hosts = new Map<string, TransportSeen>();

  constructor(
    private readonly log?: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Note a request of `host`'s agent. */
  note(host: string, transport: 'http' | 'https', peer: string | undefined): void {
    const seen: TransportSeen = { transport, peer: peer ?? 'unknown', at: this.now() };
    const before = this.hosts.get(host);
    this.hosts.set(host, seen);
    const insecure = isInsecure(seen);
    if (insecure && (!before || !isInsecure(before) || before.peer !== seen.peer)) {
      this.log?.warn({ host, peer: seen.peer }, warning(host, seen));
    } else if (!insecure && before && isInsecure(before)) {
      this.log?.info({ host, peer: seen.peer, transport }, 'host no longer reports over plain HTTP across the network');
    }
  }

  get(host: string): TransportSeen | undefined {
    return this.hosts.get(host);
  }

  /** The additive fields of a host in GET /v1/hosts and GET /v1/hosts/{host}. */
  fields(host: string): HostTransport {
    const seen = this.hosts.get(host);
    if (!seen) return { transport: null, insecure_transport: false, transport_warning: null };
    const insecure = isInsecure(seen);
    return { transport: seen.transport, insecure_transport: insecure, transport_warning: insecure ? warning(host, seen) : null };
  }
}

function warning(host: string, seen: TransportSeen): string {
  return (
    `the agent of ${host} reaches the controller over plain HTTP from ${seen.peer}: its token and reports cross the network unencrypted; ` +
    'give the controller tls (cert_file, key_file) and the agent an https:// controller.url with controller.ca_file'
  );
}

/** The scheme a request came over (no proxy headers are trusted: the socket says). */
export function requestTransport(request: FastifyRequest): 'http' | 'https' {
  return request.protocol === 'https' ? 'https' : 'http';
}

type HostLike = { host: string } & Record<string, unknown>;

/** The payload of GET /v1/hosts or GET /v1/hosts/{host} with each host's transport fields added. */
export function withTransport(tracker: TransportTracker, payload: unknown): unknown {
  const add = (h: HostLike) => ({ ...h, ...tracker.fields(h.host) });
  if (payload && typeof payload === 'object') {
    const p = payload as { hosts?: unknown; host?: unknown };
    if (Array.isArray(p.hosts)) return { ...p, hosts: (p.hosts as HostLike[]).map(add) };
    if (typeof p.host === 'string') return add(p as HostLike);
  }
  return payload;
}

/** The hooks on the app: note agent requests; add the fields to the two host routes' answers. */
export function registerTransportHooks(app: FastifyInstance, tracker: TransportTracker): void {
  app.addHook('onResponse', async (request) => {
    const p = request.principal;
    if (p?.kind === 'agent') tracker.note(p.host, requestTransport(request), request.socket?.remoteAddress);
  });
  app.addHook('preSerialization', async (request, _reply, payload) => {
    if (request.method !== 'GET') return payload;
    const route = request.routeOptions.url;
    return route === '/v1/hosts' || route === '/v1/hosts/:host' ? withTransport(tracker, payload) : payload;
  });
}
