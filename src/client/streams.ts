import type { Readable, Writable } from 'node:stream';
import { FrameDecoder, JSONLineSplitter, JSONMessage, StreamType } from '../wire';
import { StreamError } from './errors';

/** Where demultiplexed output goes: stdin (type 0) frames go to stdout as docker does. */
export interface OutputSinks {
  stdout: Writable;
  stderr: Writable;
}

function writeWithBackpressure(src: Readable, dst: Writable, data: Buffer): void {
  if (!dst.write(data)) {
    src.pause();
    dst.once('drain', () => src.resume());
  }
}

function settle(src: Readable, onData: (chunk: Buffer) => void, onEnd?: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err?: unknown) => {
      if (done) return;
      done = true;
      src.removeListener('data', data);
      if (err) reject(err);
      else {
        try {
          onEnd?.();
          resolve();
        } catch (e) {
          reject(e);
        }
      }
    };
    const data = (chunk: Buffer | string) => {
      try {
        onData(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      } catch (e) {
        finish(e);
        src.destroy();
      }
    };
    src.on('data', data);
    src.on('end', () => finish());
    src.on('close', () => finish());
    src.on('error', (e) => {
      // a reset after the daemon closed its side is the usual end of a hijacked stream
      if ((e as NodeJS.ErrnoException).code === 'ECONNRESET') finish();
      else finish(e);
    });
  });
}

/**
 * Copies a multiplexed stream (8-byte frame headers) to stdout/stderr until it ends.
 * A system-error frame (type 3) rejects with its text; a truncated frame at the end is dropped.
 */
export function demuxStream(src: Readable, sinks: OutputSinks, head?: Buffer): Promise<void> {
  const decoder = new FrameDecoder();
  const onData = (chunk: Buffer) => {
    for (const f of decoder.push(chunk)) {
      if (f.stream === StreamType.System) throw new StreamError(`error from daemon in stream: ${f.payload.toString('utf8')}`);
      writeWithBackpressure(src, f.stream === StreamType.Stderr ? sinks.stderr : sinks.stdout, f.payload);
    }
  };
  if (head && head.length) onData(head);
  return settle(src, onData);
}

/** Copies a raw stream (TTY: no framing) to one sink until it ends. */
export function copyRawStream(src: Readable, dst: Writable, head?: Buffer): Promise<void> {
  if (head && head.length) dst.write(head);
  return settle(src, (chunk) => writeWithBackpressure(src, dst, chunk));
}

/**
 * Reads a JSON-lines progress stream, handing each message to `onMessage`.
 * A message carrying `error`/`errorDetail` rejects the promise with that text
 * (after `onMessage` saw it), as docker's jsonmessage reader does.
 */
export function readJSONMessages(src: Readable, onMessage: (m: JSONMessage) => void): Promise<void> {
  const splitter = new JSONLineSplitter<JSONMessage>();
  const handle = (messages: JSONMessage[]) => {
    for (const m of messages) {
      onMessage(m);
      if (m.errorDetail || m.error) {
        const err = new StreamError(m.errorDetail?.message ?? m.error ?? 'unknown error');
        (err as StreamError & { code?: number }).code = m.errorDetail?.code;
        throw err;
      }
    }
  };
  return settle(src, (chunk) => handle(splitter.push(chunk)), () => handle(splitter.end()));
}
