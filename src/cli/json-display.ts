import type { Readable } from 'node:stream';
import { humanSize, JSONLineSplitter, type JSONMessage } from '../wire';
import { StreamError } from '../client';
import type { OutStream } from './context';

/** The progressDetail fields dockerd may send beyond current/total. */
interface Progress {
  current?: number;
  total?: number;
  start?: number;
  hidecounts?: boolean;
  units?: string;
}

type Message = JSONMessage & { from?: string; progressDetail?: Progress };

/**
 * The text of a progressDetail as the docker CLI draws it (jsonmessage's
 * JSONProgress.String): empty when nothing is known yet; the bar only when the
 * terminal is wider than 110 columns; the time left when there is room and a start.
 */
export function progressText(p: Progress, width: number, now = Date.now()): string {
  const current = p.current ?? 0;
  const total = p.total ?? 0;
  if (current <= 0 && total <= 0) return '';
  if (total <= 0) return p.units ? `${current} ${p.units}` : humanSize(current).padStart(8);
  const percentage = Math.min(50, Math.trunc(Math.trunc((current / total) * 100) / 2));
  let bar = '';
  if (width > 110) bar = `[${'='.repeat(percentage)}>${' '.repeat(Math.max(0, 50 - percentage))}] `;
  let numbers = '';
  if (!p.hidecounts) {
    if (!p.units) numbers = current > total ? humanSize(current).padStart(8) : `${humanSize(current).padStart(8)}/${humanSize(total)}`;
    else numbers = current > total ? `${current} ${p.units}` : `${current}/${total} ${p.units}`;
  }
  let left = '';
  if (width > 50 && current > 0 && p.start && p.start > 0 && percentage < 50) {
    const perByte = (now - p.start * 1000) / current;
    left = ` ${goDuration(Math.round(((total - current) * perByte) / 1000))}`;
  }
  return bar + numbers + left;
}

/** Go's time.Duration String for whole seconds: `0s`, `45s`, `3m7s`, `1h2m0s`. */
function goDuration(seconds: number): string {
  if (seconds <= 0) return '0s';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

export interface DisplayOptions {
  /** Draw as on a terminal (lines redrawn in place); defaults to `out.isTTY`. */
  tty?: boolean;
  /** Messages with `aux` go here and are not drawn (push digests, build ids). */
  onAux?: (aux: Record<string, unknown>) => void;
}

/**
 * Draws a JSON progress stream (pull, push) the way the docker CLI's
 * DisplayJSONMessagesStream does. On a terminal each id with progress gets its own
 * line, reached by moving the cursor up and redrawn in place; a message without
 * progress ends that block. Elsewhere progress updates are dropped and every other
 * message is one `ID: Status` line. An `errorDetail` message rejects with its text.
 */
export class JSONMessageDisplay {
  private ids = new Map<string, number>();
  private readonly tty: boolean;

  constructor(
    private readonly out: OutStream,
    private readonly opts: DisplayOptions = {},
  ) {
    this.tty = opts.tty ?? !!out.isTTY;
  }

  /** The terminal's width as docker reads it: what the terminal says (even 0), 200 when it cannot say. */
  private width(): number {
    return typeof this.out.columns === 'number' ? this.out.columns : 200;
  }

  write(m: Message): void {
    if (m.aux !== undefined) {
      this.opts.onAux?.(m.aux);
      return;
    }
    let diff = 0;
    if (m.id && (m.progressDetail !== undefined || m.progress)) {
      let line = this.ids.get(m.id);
      if (line === undefined) {
        line = this.ids.size;
        this.ids.set(m.id, line);
        if (this.tty) this.out.write('\n');
      }
      diff = this.ids.size - line;
      if (this.tty && diff > 0) this.out.write(`\x1b[${diff}A`);
    } else {
      // A line outside the block: later progress must not move the cursor back over it.
      this.ids = new Map();
    }
    const failure = m.errorDetail ? m.errorDetail.message : m.error;
    if (failure === undefined) this.out.write(this.text(m));
    if (m.id && this.tty && diff > 0) this.out.write(`\x1b[${diff}B`);
    if (failure !== undefined) {
      const err = new StreamError(failure);
      (err as StreamError & { code?: number }).code = m.errorDetail?.code;
      throw err;
    }
  }

  private text(m: Message): string {
    let s = '';
    let endl = '';
    const progress = m.progressDetail ? progressText(m.progressDetail, this.width()) : '';
    if (this.tty && !m.stream && m.progressDetail !== undefined) {
      endl = '\r';
      s += '\x1b[2K\r';
    } else if (m.progressDetail !== undefined && progress !== '') {
      return '';
    }
    if (m.id) s += `${m.id}: `;
    if (m.from) s += `(from ${m.from}) `;
    if (m.progressDetail !== undefined && this.tty) s += `${m.status ?? ''} ${progress}${endl}`;
    else if (m.progress) s += `${m.status ?? ''} ${m.progress}${endl}`;
    else if (m.stream) s += `${m.stream}${endl}`;
    else s += `${m.status ?? ''}${endl}\n`;
    return s;
  }

  /** Reads a whole response, drawing as it arrives; rejects on the first error message. */
  async run(src: Readable): Promise<void> {
    const splitter = new JSONLineSplitter<Message>();
    for await (const chunk of src) for (const m of splitter.push(chunk as Buffer)) this.write(m);
    for (const m of splitter.end()) this.write(m);
  }
}
