/**
 * Detach keys: the key sequence that, typed into an attached stdin (attach, exec
 * start), ends the client's stream and leaves the process running, as dockerd does.
 *
 * Contract
 * - `parseDetachKeys` reads Docker's notation: comma-separated keys, each a single
 *   character or `ctrl-X` with X one of a-z (either case), @, [, \, ], ^, _.
 *   The default is ctrl-p,ctrl-q. Anything else is invalid-argument with dockerd's
 *   words ("Invalid detach keys (…) provided").
 * - `EscapeFilter.push` passes input through unchanged except for the bytes that may
 *   begin the sequence: those are held back until the next byte decides. When the
 *   whole sequence has been typed, `push` returns what came before it and `detached`
 *   is true; nothing after it is looked at. A held-back prefix that turns out not to
 *   be the sequence is passed on, in order, ahead of what follows.
 */
import { invalidArgument } from '../common';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** Docker's notation → the bytes typed. */
export function parseDetachKeys(keys: string): Buffer {
  const out: number[] = [];
  for (const key of keys.split(',')) {
    const k = key.trim();
    if (k.length > 1 && k.toLowerCase().startsWith('ctrl-') && k.length === 6) {
      const c = k[5]!.toLowerCase();
      if (c >= 'a' && c <= 'z') out.push(c.charCodeAt(0) - 'a'.charCodeAt(0) + 1);
      else if ('@[\\]^_'.includes(c)) out.push(c.charCodeAt(0) - '@'.charCodeAt(0));
      else throw invalidArgument(`Invalid detach keys (${keys}) provided: unknown character: '${c}'`);
    } else if (k.length === 1) {
      out.push(k.charCodeAt(0));
    } else {
      throw invalidArgument(`Invalid detach keys (${keys}) provided: unknown character: '${k}'`);
    }
  }
  if (out.length === 0 || out.some((b) => b > 0xff)) throw invalidArgument(`Invalid detach keys (${keys}) provided`);
  return Buffer.from(out);
}

export class EscapeFilter {
  private held = 0;
  detached = false;

  constructor(private readonly keys: Buffer) {}

  /** What to pass on of `chunk` (see the contract). */
  push(chunk: Buffer): Buffer {
    if (this.detached) return Buffer.alloc(0);
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) {
          this.detached = true;
          return Buffer.from(out);
        }
        continue;
      }
      // Not the sequence: what was held goes on; this byte may start it afresh.
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]!);
      this.held = 0;
      if (b === this.keys[0]) {
        this.held = 1;
        if (this.keys.length === 1) {
          this.detached = true;
          return Buffer.from(out);
        }
      } else {
        out.push(b);
      }
    }
    return Buffer.from(out);
  }
}
