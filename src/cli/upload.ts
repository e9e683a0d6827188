import { createReadStream, statSync } from 'node:fs';
import { Transform, type Readable } from 'node:stream';
import { CliContext, ExitError } from './context';
import { ProgressRenderer, progressBar } from './progress';

/**
 * The body for load/import: a file (with its size, for the bar) or our stdin.
 * On a TTY the bytes sent are shown as a footer bar under the daemon's messages.
 */
export function uploadSource(ctx: CliContext, path: string | undefined, renderer: ProgressRenderer, label: string): Readable {
  let src: Readable;
  let total: number | undefined;
  if (path === undefined || path === '-') {
    src = ctx.io.stdin;
  } else {
    try {
      const st = statSync(path);
      if (st.isDirectory()) throw new ExitError(1, `open ${path}: is a directory`);
      total = st.size;
    } catch (e) {
      if (e instanceof ExitError) throw e;
      throw new ExitError(1, `open ${path}: no such file or directory`);
    }
    src = createReadStream(path);
  }
  let sent = 0;
  let last = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      sent += chunk.length;
      const now = Date.now();
      if (now - last > 100) {
        last = now;
        renderer.setFooter(`${label} ${progressBar(sent, total)}`);
      }
      cb(null, chunk);
    },
    flush(cb) {
      renderer.done();
      cb();
    },
  });
  src.on('error', (e) => counter.destroy(e));
  return src.pipe(counter);
}
