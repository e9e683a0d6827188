/** Response helpers shared by the handlers. */
import type { ServerResponse } from 'node:http';
import type { Context } from './router';

export function sendJSON(ctx: Context, status: number, value: unknown): void {
  const res = ctx.res!;
  const body = JSON.stringify(value) + '\n';
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(ctx.req.method === 'HEAD' ? undefined : body);
}

export function sendEmpty(ctx: Context, status: number): void {
  ctx.res!.writeHead(status);
  ctx.res!.end();
}

/** Starts a streamed response and flushes the headers at once (clients block on them). */
export function startStream(res: ServerResponse, contentType: string): void {
  res.writeHead(200, { 'Content-Type': contentType });
  res.flushHeaders();
}

/** One JSON message of a progress stream (`{"status":…}`, `{"stream":…}`, `{"errorDetail":…}`). */
export function writeJSONLine(res: ServerResponse, value: unknown): void {
  res.write(JSON.stringify(value) + '\n');
}
