/**
 * Exec instances: POST /containers/{id}/exec, POST /exec/{id}/start (hijacked,
 * multiplexed unless TTY; plain 200 when detached), POST /exec/{id}/resize and
 * GET /exec/{id}/json.
 */
import { invalidArgument } from '../../common';
import type { Engine, ExecRecord, LogEntry } from '../../engine';
import { MULTIPLEXED, RAW_STREAM, StreamType, frame } from '../../wire';
import { sendEmpty, sendJSON } from '../http';
import { compareVersions, qint, readJSONBody, type Context, type Router } from '../router';
import { asObject, checkFields, foldFieldNames, parseJSON, type Spec } from '../validate';
import { detachKeysOf, hijack, pumpStdin } from './containers';
import { parseDetachKeys } from '../detach-keys';

const EXEC_CONFIG: Record<string, Spec> = {
  AttachStdin: 'boolean', AttachStdout: 'boolean', AttachStderr: 'boolean', ConsoleSize: 'any', DetachKeys: 'string', Tty: 'boolean',
  Env: 'string[]', Cmd: 'string|string[]', Privileged: 'boolean', User: 'string', WorkingDir: 'string', Detach: 'boolean',
};

const EXEC_START_CONFIG: Record<string, Spec> = { Detach: 'boolean', Tty: 'boolean', ConsoleSize: 'any' };

export function execRoutes(router: Router, engine: Engine): void {
  router.add('POST', '/containers/{id}/exec', async (ctx) => {
    const body = asObject(await readJSONBody(ctx, 'exec config', EXEC_CONFIG), 'exec config');
    checkFields('exec config', body, EXEC_CONFIG);
    const cmd = typeof body.Cmd === 'string' ? [body.Cmd] : (body.Cmd as string[] | null | undefined) ?? [];
    const x = engine.execs.create(ctx.params[0]!, {
      cmd,
      env: body.Env as string[] | null | undefined,
      workingDir: (body.WorkingDir as string | undefined) || undefined,
      user: (body.User as string | undefined) || undefined,
      privileged: !!body.Privileged,
      tty: !!body.Tty,
      attachStdin: !!body.AttachStdin,
      attachStdout: !!body.AttachStdout,
      attachStderr: !!body.AttachStderr,
      detachKeys: checkedKeys(body.DetachKeys as string | undefined),
      consoleSize: consoleSize(body.ConsoleSize),
    });
    sendJSON(ctx, 201, { Id: x.id });
  });

  router.add('POST', '/exec/{id}/start', async (ctx) => {
    const body = asObject(ctx.socket ? await readUpgradeBody(ctx) : await readJSONBody(ctx, 'exec start config', EXEC_START_CONFIG), 'exec start config');
    checkFields('exec start config', body, EXEC_START_CONFIG);
    const id = ctx.params[0]!;
    const x = engine.execs.checkStart(id);
    // As in dockerd: the process got its TTY (or none) at create; Tty here only picks the
    // stream's framing (raw, which carries no stderr, or multiplexed) and whether ConsoleSize counts.
    const raw = body.Tty === true;
    const size = raw ? consoleSize(body.ConsoleSize) : null;
    if (body.Detach) {
      await engine.execs.start(id, { detach: true, consoleSize: size }, undefined);
      if (ctx.res) sendEmpty(ctx, 200);
      else ctx.socket?.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const contentType = raw || compareVersions(ctx.apiVersion, '1.42') < 0 ? RAW_STREAM : MULTIPLEXED;
    const out = hijack(ctx, contentType);
    const input = out.input;
    if (input && x.options.attachStdin) input.pause();
    const write = (e: LogEntry) => {
      if ((e.stream === 'stdout' && !x.options.attachStdout) || (e.stream === 'stderr' && (!x.options.attachStderr || raw))) return;
      out.write(raw ? e.data : frame(e.stream === 'stdout' ? StreamType.Stdout : StreamType.Stderr, e.data));
    };
    const detached = new AbortController();
    const keys = input && x.options.attachStdin ? detachKeysOf(x.options.detachKeys, engine) : undefined;
    try {
      await engine.execs.start(id, { consoleSize: size }, {
        output: write,
        stdin: input ? (sink) => pumpStdin(input, ctx.head, sink, { keys: keys!, onDetach: () => detached.abort() }) : undefined,
      }, AbortSignal.any([ctx.abort, detached.signal]));
    } catch (err) {
      // Like dockerd: the stream has begun, so the error is its last words; the exit code is in /exec/{id}/json.
      const msg = `${err instanceof Error ? err.message : String(err)}\r\n`;
      out.write(raw ? Buffer.from(msg) : frame(StreamType.Stdout, msg));
    } finally {
      out.end();
    }
  });

  router.add('POST', '/exec/{id}/resize', (ctx) => {
    const [h, w] = [qint(ctx.query, 'h'), qint(ctx.query, 'w')];
    if (h === undefined || w === undefined || h < 0 || w < 0) throw invalidArgument('resize needs h and w: the TTY height and width in characters');
    const x = engine.execs.get(ctx.params[0]!);
    // The client resizes right after start, possibly before the process runs: not an error.
    if (x.running) engine.execs.resize(x.id, h, w);
    sendEmpty(ctx, 200);
  });

  router.add('GET', '/exec/{id}/json', (ctx) => {
    sendJSON(ctx, 200, execInspect(engine.execs.get(ctx.params[0]!)));
  });
}

function execInspect(x: ExecRecord): Record<string, unknown> {
  const [entrypoint, ...args] = x.options.cmd;
  return {
    CanRemove: false,
    ContainerID: x.containerId,
    DetachKeys: x.options.detachKeys ?? '',
    ExitCode: x.exitCode,
    ID: x.id,
    OpenStderr: !!x.options.attachStderr,
    OpenStdin: !!x.options.attachStdin,
    OpenStdout: !!x.options.attachStdout,
    ProcessConfig: { arguments: args, entrypoint: entrypoint ?? '', privileged: !!x.options.privileged, tty: !!x.options.tty, user: x.options.user ?? '' },
    Running: x.running,
    Pid: x.pid,
  };
}

function consoleSize(v: unknown): [number, number] | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || v.length !== 2 || !v.every((n) => Number.isInteger(n) && n >= 0)) throw invalidArgument('ConsoleSize must be [height, width] with two non-negative integers');
  return [v[0] as number, v[1] as number];
}

/**
 * The JSON body of an upgraded request: node hands the connection over right
 * after the headers, so the body (Content-Length bytes) is at the start of what
 * the client sends; whatever follows it is stdin and is left in `ctx.head`.
 */
async function readUpgradeBody(ctx: Context): Promise<unknown> {
  const len = Number.parseInt(String(ctx.req.headers['content-length'] ?? '0'), 10) || 0;
  let buf = ctx.head ?? Buffer.alloc(0);
  if (len > 16 << 20) throw invalidArgument('exec start config is too large');
  const sock = ctx.socket!;
  if (buf.length < len) {
    buf = await new Promise<Buffer>((resolve, reject) => {
      const chunks = [buf];
      let have = buf.length;
      const onData = (d: Buffer) => {
        chunks.push(d);
        have += d.length;
        if (have >= len) {
          cleanup();
          resolve(Buffer.concat(chunks));
        }
      };
      const onEnd = () => {
        cleanup();
        reject(invalidArgument('the request body ended early'));
      };
      const cleanup = () => {
        sock.off('data', onData);
        sock.off('end', onEnd);
        sock.pause();
      };
      sock.on('data', onData);
      sock.on('end', onEnd);
    });
  }
  ctx.head = buf.subarray(len);
  if (len === 0) return {};
  return foldFieldNames(parseJSON(buf.subarray(0, len), 'exec start config'), EXEC_START_CONFIG);
}

/** DetachKeys of an exec create, checked at once as dockerd does (400 for a bad one). */
function checkedKeys(keys: string | undefined): string | undefined {
  if (keys) parseDetachKeys(keys);
  return keys || undefined;
}
