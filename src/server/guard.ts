/**
 * What a request must pass before its route runs, and the headers every response gets:
 * - Host: a server bound to a loopback address answers only loopback Host names (localhost, 127.x.x.x, [::1]) and
 *   those of `allowedHosts`, so a web page cannot reach it by DNS rebinding (its Host is the attacker's name). '*'
 *   allows any. Other binds do not check (the operator chose to expose it).
 * - CORS (off unless origins are given): an allowed Origin gets Access-Control-Allow-Origin on every response, and
 *   its preflight OPTIONS a 204 with the methods and headers (incl. authorization); other preflights are refused.
 * - API keys: with keys set, every route except /health needs `Authorization: Bearer KEY`; keys are compared in
 *   constant time (SHA-256 digests with timingSafeEqual, every key tried).
 * - POST bodies must be `Content-Type: application/json`: a page on any origin can send a `text/plain` POST with no
 *   preflight (a "simple" request), never a JSON one, so this makes cross-site requests need CORS.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { ApiError } from './errors.js';

export interface GuardOptions {
  /** origins allowed to call from a browser, or '*' (default: none) */
  cors?: string[] | '*';
  /** bearer keys; empty or absent: no key needed */
  apiKeys?: string[];
  /** Host names accepted besides the loopback ones when bound to loopback, or ['*'] */
  allowedHosts?: string[];
}

const METHODS = 'GET, POST, OPTIONS';
const digest = (s: string) => createHash('sha256').update(s).digest();

export function isLoopbackAddress(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  if (a === 'localhost' || a === '::1') return true;
  if (a.startsWith('::ffff:')) return isLoopbackAddress(a.slice(7));
  return isIP(a) === 4 && a.startsWith('127.');
}

/** the name of a Host header value, without the port ("[::1]:8080" → "::1") */
function hostName(host: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (m) return m[1].toLowerCase();
  return host.replace(/:\d+$/, '').toLowerCase();
}

export class Guard {
  private readonly keys: Buffer[];
  private readonly allowed: Set<string>;
  /** set once listening: whether the bound address is a loopback one */
  loopbackBind = false;

  constructor(private readonly o: GuardOptions) {
    this.keys = (o.apiKeys ?? []).map(digest);
    this.allowed = new Set((o.allowedHosts ?? []).map((h) => h.toLowerCase()));
  }

  /** CORS headers for this request's Origin (none when it is not allowed) */
  corsHeaders(req: IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    const cors = this.o.cors;
    if (!origin || !cors) return {};
    if (cors === '*') return { 'Access-Control-Allow-Origin': '*' };
    return cors.includes(origin) ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } : {};
  }

  checkHost(req: IncomingMessage): void {
    if (!this.loopbackBind || this.allowed.has('*')) return;
    const host = req.headers.host;
    if (host === undefined) return; // not a browser (browsers always send it)
    const name = hostName(host);
    if (isLoopbackAddress(name) || this.allowed.has(name)) return;
    throw new ApiError(403, `the Host '${host}' is not allowed: this server is bound to loopback and answers loopback names only (widen with --allowed-hosts)`, 'invalid_request_error', null, 'host_not_allowed');
  }

  /** answers a CORS preflight (OPTIONS): 204 for an allowed origin, else a 403 */
  preflight(req: IncomingMessage, res: ServerResponse): void {
    const cors = this.corsHeaders(req);
    if (!cors['Access-Control-Allow-Origin']) {
      const why = this.o.cors ? `the origin '${req.headers.origin ?? ''}' is not allowed (--cors)` : 'cross-origin requests are off (start the server with --cors ORIGIN)';
      throw new ApiError(403, why, 'invalid_request_error', null, 'origin_not_allowed');
    }
    const asked = req.headers['access-control-request-headers'];
    const headers = new Set(['authorization', 'content-type', ...(asked ? asked.split(',').map((h) => h.trim().toLowerCase()).filter(Boolean) : [])]);
    res.writeHead(204, {
      ...cors,
      'Access-Control-Allow-Methods': METHODS,
      'Access-Control-Allow-Headers': [...headers].join(', '),
      'Access-Control-Max-Age': '600',
    });
    res.end();
  }

  checkKey(req: IncomingMessage): void {
    if (this.keys.length === 0) return;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const given = digest(m ? m[1].trim() : '');
    let ok = false;
    for (const k of this.keys) ok = timingSafeEqual(k, given) || ok; // every key is compared
    if (!ok || !m) {
      const message = m ? 'Incorrect API key provided.' : 'You did not provide an API key: send it as Authorization: Bearer KEY.';
      throw new ApiError(401, message, 'invalid_request_error', null, 'invalid_api_key', { 'WWW-Authenticate': 'Bearer' });
    }
  }

  checkJson(req: IncomingMessage): void {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    if (type !== 'application/json') {
      throw new ApiError(415, `POST bodies must be sent with Content-Type: application/json, got '${req.headers['content-type'] ?? 'none'}'`, 'invalid_request_error', null, 'unsupported_media_type');
    }
  }
}
