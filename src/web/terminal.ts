/**
 * The browser terminal: `exec -it sh` in a container, bridged to a WebSocket.
 *
 * The page sends keystrokes as binary messages and `{"resize":[cols,rows]}` as text;
 * the exec's TTY output comes back as binary messages. The exec is created and started
 * with the page's size (ConsoleSize), later sizes go to POST /exec/{id}/resize. The command is fixed (sh), so
 * the page cannot choose what runs. Closing either side ends the other.
 */
import type { WebSocket } from 'ws';
import type { EngineClient } from '../client';

export function bridgeExec(ws: WebSocket, client: EngineClient, containerId: string): void {
  const fail = (msg: string) => {
    if (ws.readyState === ws.OPEN) ws.send(`\r\n\x1b[31m${msg}\x1b[0m\r\n`);
    ws.close(1011, msg.slice(0, 120));
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(containerId)) return fail('no such container');
  const pending: (Buffer | string)[] = [];
  let size: [number, number] | undefined;
  // The page sends its size as soon as the socket opens: the exec is created once it came
  // (or after a short wait), so the TTY has that size from its first byte. A resize call
  // that reaches the engine before the process runs would be dropped.
  let sized: () => void = () => undefined;
  const firstSize = new Promise<void>((r) => {
    sized = r;
    setTimeout(r, 1000).unref();
  });
  let execId: string | undefined;
  let socket: import('node:stream').Duplex | undefined;
  const resize = () => {
    if (!execId || !size) return;
    client.transport.call('POST', `/exec/${execId}/resize`, { query: { w: size[0], h: size[1] } }).catch(() => undefined);
  };
  ws.on('message', (data, isBinary) => {
    if (!isBinary) {
      try {
        const m = JSON.parse(String(data)) as { resize?: unknown };
        if (Array.isArray(m.resize) && m.resize.length === 2 && m.resize.every((n) => Number.isInteger(n) && n > 0 && n < 10000)) {
          size = [m.resize[0] as number, m.resize[1] as number];
          sized();
          resize();
        }
      } catch {
        // not a control message: ignore it
      }
      return;
    }
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (socket) socket.write(buf);
    else pending.push(buf);
  });
  ws.on('close', () => socket?.destroy());
  (async () => {
    await firstSize;
    if (ws.readyState !== ws.OPEN) return;
    const created = await client.transport.json<{ Id: string }>('POST', `/containers/${encodeURIComponent(containerId)}/exec`, {
      body: { AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true, Cmd: ['sh'], Env: ['TERM=xterm-256color'], ConsoleSize: size ? [size[1], size[0]] : undefined },
    });
    execId = created.Id;
    const h = await client.transport.hijack('POST', `/exec/${execId}/start`, { body: { Detach: false, Tty: true, ConsoleSize: size ? [size[1], size[0]] : undefined }, headers: { 'Content-Type': 'application/json' } });
    if (ws.readyState !== ws.OPEN) {
      h.socket.destroy();
      return;
    }
    socket = h.socket;
    resize();
    if (h.head.length) ws.send(h.head);
    for (const b of pending.splice(0)) socket.write(b);
    socket.on('data', (c: Buffer) => {
      if (ws.readyState === ws.OPEN) ws.send(c);
    });
    socket.on('close', () => ws.close(1000, 'exited'));
    socket.on('error', () => ws.close(1000, 'exited'));
  })().catch((e: unknown) => fail((e as Error).message));
}
