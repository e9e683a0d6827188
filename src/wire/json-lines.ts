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
