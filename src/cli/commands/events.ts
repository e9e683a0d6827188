import { Command } from 'commander';
import { CliContext, ExitError } from '../context';
import { newCommand } from '../command';
import { collect } from '../container-options';
import { filterFlags } from '../prune';
import { encodeFilters } from '../../client';
import { compileTemplate } from '../format/template';
import { parseTimestamp } from '../format/units';
import { streamLines } from '../../wire';

interface EventsFlags {
  filter?: string[];
  format?: string;
  since?: string;
  until?: string;
}

export interface EventMessage {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  scope?: string;
  time: number;
  timeNano: number | bigint;
}

/** docker's line: `2024-01-02T03:04:05.123456789Z container start ID (image=busybox, name=web)`. */
export function eventLine(e: EventMessage, timeNanoText: string): string {
  const nanos = BigInt(timeNanoText);
  const secs = nanos / 1_000_000_000n;
  const frac = String(nanos % 1_000_000_000n).padStart(9, '0');
  const when = new Date(Number(secs) * 1000).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
  const attrs = Object.entries(e.Actor.Attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`);
  return `${when} ${e.Type} ${e.Action} ${e.Actor.ID}${attrs.length ? ` (${attrs.join(', ')})` : ''}\n`;
}

export function eventsCommand(ctx: CliContext, name = 'events'): Command {
  return newCommand(name, 'Get real time events from the server')
    .option('-f, --filter <filter>', 'Filter output based on conditions provided', collect, [])
    .option('--format <string>', "Format output using a custom template: 'json' or a Go template")
    .option('--since <string>', 'Show all events created since timestamp')
    .option('--until <string>', 'Stream events until this timestamp')
    .action(async (f: EventsFlags, cmd: Command) => {
      const filters = filterFlags(f.filter, cmd, '-f, --filter');
      let since: string | undefined;
      let until: string | undefined;
      try {
        since = f.since ? parseTimestamp(f.since) : undefined;
        until = f.until ? parseTimestamp(f.until) : undefined;
      } catch (e) {
        throw new ExitError(1, (e as Error).message);
      }
      const tmpl = f.format && f.format !== 'json' ? compileTemplate(f.format) : undefined;
      const ac = new AbortController();
      const stop = () => ac.abort();
      ctx.io.signals?.once('SIGINT', stop);
      try {
        const res = await ctx.client.transport.request('GET', '/events', { query: { since, until, filters: encodeFilters(filters) }, signal: ac.signal });
        for await (const line of streamLines(res)) {
          const e = JSON.parse(line) as EventMessage;
          if (f.format === 'json') ctx.out(`${line}\n`);
          else if (tmpl) ctx.out(`${tmpl.execute(e)}\n`);
          else ctx.out(eventLine(e, /"timeNano":(\d+)/.exec(line)?.[1] ?? String(e.timeNano)));
        }
      } catch (e) {
        if (!ac.signal.aborted) throw e;
      } finally {
        ctx.io.signals?.removeListener('SIGINT', stop);
      }
    });
}
