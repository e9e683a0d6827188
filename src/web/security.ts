/**
 * The dashboard's gate: the access token, the Host/Origin checks and the response headers.
 *
 * Every request and WebSocket must carry the token (header `X-Berth-Token`, `?token=`
 * or the cookie set when the page was opened with `?token=`), and name the bound
 * address in Host (a DNS-rebinding page has its own name there) and, when a browser
 * sends one, in Origin (another site's page has its own origin there).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';

export const TOKEN_COOKIE = 'berth_dashboard_token';
export const TOKEN_HEADER = 'x-berth-token';

export function newToken(): string {
  return randomBytes(24).toString('hex');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/** Where the token came from, or undefined when the request does not carry the right one. */
export function tokenSource(req: http.IncomingMessage, url: URL, token: string): 'header' | 'query' | 'cookie' | undefined {
  const h = req.headers[TOKEN_HEADER];
  if (typeof h === 'string' && sameSecret(h, token)) return 'header';
  const q = url.searchParams.get('token');
  if (q !== null && sameSecret(q, token)) return 'query';
  const c = cookieValue(req.headers.cookie, TOKEN_COOKIE);
  if (c !== undefined && sameSecret(c, token)) return 'cookie';
  return undefined;
}

/** The Host values that name the bound address: the address itself, plus `localhost` for a loopback bind. */
export function allowedHosts(host: string, port: number): Set<string> {
  const bracket = host.includes(':') ? `[${host}]` : host;
  const out = new Set([`${bracket}:${port}`.toLowerCase()]);
  if (host === '127.0.0.1' || host === '::1' || host === 'localhost') {
    out.add(`localhost:${port}`);
    out.add(`127.0.0.1:${port}`);
    out.add(`[::1]:${port}`);
  }
  return out;
}

/** Why the request's Host or Origin is refused, or undefined when both are ours. */
export function hostOriginProblem(req: http.IncomingMessage, hosts: Set<string>): string | undefined {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!hosts.has(host)) return `Host "${host}" is not this dashboard's address`;
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let o: URL;
    try {
      o = new URL(origin);
    } catch {
      return `Origin "${origin}" is not this dashboard`;
    }
    if (o.protocol !== 'http:' || !hosts.has(o.host.toLowerCase())) return `Origin "${origin}" is not this dashboard`;
  }
  return undefined;
}

/**
 * Scripts only from this server, no inline script, no eval; connections only back to it.
 * Inline styles are allowed: xterm.js and uPlot size their elements through style attributes
 * and xterm writes its theme into a <style> element.
 */
export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export function securityHeaders(): Record<string, string> {
  return {
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
    'Cache-Control': 'no-store',
  };
}

export function tokenCookie(token: string): string {
  return `${TOKEN_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict`;
}
