import { progressBar, type JSONMessage } from '../wire';
import type { OutStream } from './context';

export { progressBar };

/**
 * Draws a docker JSON-message stream the way docker's jsonmessage does: on a TTY,
 * lines with an `id` are redrawn in place; elsewhere progress updates are skipped.
 * A footer (our own upload bar) may sit below everything on a TTY.
 */
export class ProgressRenderer {
  private readonly ids = new Map<string, number>();
  private lines = 0;
  private footer = '';

  constructor(
    private readonly out: OutStream,
    private readonly tty: boolean = !!out.isTTY,
  ) {}

  private clearFooter(): void {
    if (this.footer) this.out.write('\r\x1b[2K');
  }

  private drawFooter(): void {
    if (this.footer) this.out.write(this.footer);
  }

  setFooter(text: string): void {
    if (!this.tty) return;
    this.clearFooter();
    this.footer = text;
    this.drawFooter();
  }

  /** Removes the footer for good. */
  done(): void {
    if (!this.tty) return;
    this.clearFooter();
    this.footer = '';
  }

  private text(m: JSONMessage): string | undefined {
    const progress = m.progress || (m.progressDetail && (m.progressDetail.current || m.progressDetail.total) ? progressBar(m.progressDetail.current ?? 0, m.progressDetail.total) : '');
    if (m.stream !== undefined && m.stream !== '') return m.stream;
    if (progress && !this.tty) return undefined;
    if (m.status === undefined && m.id === undefined) return undefined;
    let s = m.id ? `${m.id}: ` : '';
    s += m.status ?? '';
    if (progress) s += ` ${progress}`;
    return s + '\n';
  }

  write(m: JSONMessage): void {
    if (m.error || m.errorDetail) return;
    const text = this.text(m);
    if (text === undefined) return;
    this.clearFooter();
    if (this.tty && m.id && m.stream === undefined) {
      const line = this.ids.get(m.id);
      if (line === undefined) {
        this.ids.set(m.id, this.lines);
        this.out.write(text);
        this.lines++;
      } else {
        const up = this.lines - line;
        this.out.write(`\x1b[${up}A\r\x1b[2K${text.replace(/\n$/, '')}\r\x1b[${up}B`);
      }
    } else {
      this.out.write(text);
      if (this.tty) this.lines += (text.match(/\n/g) ?? []).length;
    }
    this.drawFooter();
  }
}
