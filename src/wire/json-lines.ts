/** One message of a Docker JSON progress stream (pull, push, load, import, build). */
export interface JSONMessage {
  status?: string;
  id?: string;
  stream?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { code?: number; message: string };
  aux?: Record<string, unknown>;
}

/** Splits a byte stream into JSON values, one per line; blank lines are skipped. */
export class JSONLineSplitter<T = unknown> {
  private rest = '';
  push(chunk: Buffer | string): T[] {
    this.rest += chunk.toString();
    const lines = this.rest.split('\n');
    this.rest = lines.pop() ?? '';
    return lines.filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as T);
  }
  end(): T[] {
    const r = this.rest.trim();
    this.rest = '';
    return r ? [JSON.parse(r) as T] : [];
  }
}

/** The non-blank lines of a byte stream (JSON-lines endpoints: events, stats), trimmed. */
export async function* streamLines(stream: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  let buf = '';
  for await (const chunk of stream) {
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (line) yield line;
    }
  }
  if (buf.trim()) yield buf.trim();
}
