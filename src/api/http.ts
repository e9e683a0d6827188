/** Response helpers shared by the handlers. */
import type { ServerResponse } from 'node:http';
import type { Context } from './router';

export function sendJSON(ctx: Context, status: number, value: unknown): void {
  sendJSONText(ctx, status, JSON.stringify(value));
}

/**
 * Sends text that is already JSON. The body is encoded once: measuring a string's UTF-8 length
 * and then writing it walks it twice, which shows at `ps` with hundreds of containers.
 */
export function sendJSONText(ctx: Context, status: number, json: string): void {
  const res = ctx.res!;
  const body = Buffer.from(json + '\n');
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': body.length });
  res.end(ctx.req.method === 'HEAD' ? undefined : body);
}

/**
 * A JSON array, each element serialized as soon as it is made: the same bytes as stringifying
 * the whole list, but no element outlives its turn, so a long list does not keep hundreds of
 * object trees alive across young-generation collections.
 */
export function sendJSONList<T>(ctx: Context, status: number, items: readonly T[], render: (item: T) => unknown): void {
  const parts = new Array<string>(items.length);
  for (let i = 0; i < items.length; i++) parts[i] = JSON.stringify(render(items[i]!)) ?? 'null';
  sendJSONText(ctx, status, `[${parts.join(',')}]`);
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
