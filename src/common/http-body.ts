/**
 * The body of an HTTP/1.1 request read from the connection's raw bytes, for a request
 * whose connection was taken from node's HTTP parser right after its headers (a `docker
 * cp` PUT, see api/raw-body.ts): the chunked transfer coding (RFC 9112 §7.1) or a
 * Content-Length.
 *
 * Contract
 * - feed() takes raw bytes as they come, hands the body's bytes to `out` as views of
 *   them (no copies), and returns how many raw bytes belonged to the body: what follows
 *   the body's end is not looked at.
 * - Chunked: sizes in hex (at most 13 digits), extensions after `;` skipped, CRLF line
 *   ends, trailer fields skipped; a size line or the trailers past their limits, or any
 *   other byte out of place → invalid-argument naming what was wrong. As strict as
 *   node's own parser, which the same bytes would otherwise have gone through.
 * - `done` once the last chunk and the trailers (or Content-Length bytes) were read.
 */
import { invalidArgument } from './errors';

export type BodyFraming = { chunked: true } | { length: number };

const MAX_LINE = 4096;
const MAX_TRAILERS = 16 * 1024;
const CR = 0x0d;
const LF = 0x0a;

type State = 'size' | 'ext' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer-start' | 'trailer' | 'trailer-lf' | 'end-lf' | 'done';

/** The states that take exactly one byte: which, the state after it, and the complaint otherwise. */
const EXPECT: Partial<Record<State, { byte: number; next: State; otherwise: string }>> = {
  'data-cr': { byte: CR, next: 'data-lf', otherwise: "a chunk's data is longer than its size" },
  'data-lf': { byte: LF, next: 'size', otherwise: "a chunk's data does not end in CRLF" },
  'trailer-lf': { byte: LF, next: 'trailer-start', otherwise: 'a trailer field does not end in CRLF' },
  'end-lf': { byte: LF, next: 'done', otherwise: 'the body does not end in CRLF' },
};

export class BodyDeframer {
  private state: State;
  private readonly chunked: boolean;
  /** Bytes of the current chunk (or of the whole Content-Length body) still to come. */
  private left = 0;
  private size = 0;
  private digits = 0;
  private lineLen = 0;
  private trailerLen = 0;

  constructor(framing: BodyFraming) {
    if ('chunked' in framing) {
      this.chunked = true;
      this.state = 'size';
    } else {
      this.chunked = false;
      this.left = framing.length;
      this.state = framing.length > 0 ? 'data' : 'done';
    }
  }

  get done(): boolean {
    return this.state === 'done';
  }

  feed(raw: Buffer, out: (body: Buffer) => void): number {
    let i = 0;
    const n = raw.length;
    while (i < n && this.state !== 'done') {
      if (this.state === 'data') {
        const take = Math.min(this.left, n - i);
        out(raw.subarray(i, i + take));
        i += take;
        this.left -= take;
        if (this.left === 0) this.state = this.chunked ? 'data-cr' : 'done';
        continue;
      }
      const c = raw[i++]!;
      // The size line (digits and extensions) and the trailer fields are bounded.
      if ((this.state === 'size' || this.state === 'ext') && ++this.lineLen > MAX_LINE) throw malformed('a chunk size line is too long');
      if ((this.state === 'trailer-start' || this.state === 'trailer') && ++this.trailerLen > MAX_TRAILERS) throw malformed('the trailer fields are too long');
      const want = EXPECT[this.state];
      if (want) {
        if (c !== want.byte) throw malformed(want.otherwise);
        this.state = want.next;
        continue;
      }
      switch (this.state) {
        case 'size': {
          const v = hex(c);
          if (v >= 0) {
            if (++this.digits > 13) throw malformed('a chunk size is too large');
            this.size = this.size * 16 + v;
          } else if (this.digits > 0 && (c === 0x3b || c === 0x20 || c === 0x09)) {
            this.state = 'ext';
          } else if (this.digits > 0 && c === CR) {
            this.state = 'size-lf';
          } else {
            throw malformed('a chunk size is not a hexadecimal number');
          }
          break;
        }
        case 'ext':
          if (c === CR) this.state = 'size-lf';
          else if (c === LF || c === 0) throw malformed('a chunk extension is malformed');
          break;
        case 'size-lf':
          if (c !== LF) throw malformed('a chunk size line does not end in CRLF');
          this.lineLen = 0;
          this.digits = 0;
          if (this.size === 0) {
            this.state = 'trailer-start';
          } else {
            this.left = this.size;
            this.size = 0;
            this.state = 'data';
          }
          break;
        case 'trailer-start':
          this.state = c === CR ? 'end-lf' : 'trailer';
          break;
        case 'trailer':
          if (c === CR) this.state = 'trailer-lf';
          break;
      }
    }
    return i;
  }
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function malformed(what: string) {
  return invalidArgument(`the request's chunked body is malformed: ${what}`);
}

/**
 * A request body that can be read straight from its connection on another thread (the
 * `docker cp` extraction worker) instead of through node's parser: api/raw-body.ts puts
 * one on the body's stream under RAW_BODY.
 */
export interface RawBodySource {
  /**
   * The connection for a reader of its own: its fd (the connection's own: the taker reads
   * a duplicate it makes at once), the raw bytes of the body already read (framing
   * included) and the framing. Undefined when the body is being read as a stream already.
   */
  takeConnection(): { fd: number; head: Buffer; framing: BodyFraming } | undefined;
  /**
   * After takeConnection(): the taker read `raw` (the head included) and declined the rest; the
   * body is to be read as a stream, starting over from these bytes.
   */
  returnConnection(raw: Buffer): void;
}

export const RAW_BODY = Symbol.for('berth.rawBody');

export function rawBodyOf(input: unknown): RawBodySource | undefined {
  return (input as { [RAW_BODY]?: RawBodySource } | null)?.[RAW_BODY];
}
