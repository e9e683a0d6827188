/**
 * The event bus behind `GET /events`: every engine service emits here; subscribers
 * get each event as it happens, and a bounded in-memory history serves `--since`
 * (like dockerd, events do not survive a daemon restart).
 *
 * Container events carry the container's labels as attributes, as Docker's do: the
 * engine sets `describe` to look them up, and labels seen once are remembered so the
 * `destroy` event (emitted after the record is gone) still carries them.
 */
import { EventEmitter } from 'node:events';
import { matchLabelFilters, type FilterArgs } from '../common';
import type { ContainerEvents } from './container-model';

export type EventType = 'container' | 'image' | 'volume' | 'network' | 'daemon';

export interface EngineEvent {
  type: EventType;
  action: string;
  id: string;
  attributes: Record<string, string>;
  /** Unix nanoseconds. */
  timeNano: bigint;
}

/** Docker's event filters: key → accepted values (any value of a key may match; every key must match). */
export type EventFilters = FilterArgs;

export const EVENT_FILTER_KEYS = ['type', 'container', 'image', 'event', 'label', 'volume', 'network', 'daemon', 'scope'];

export class EventBus implements ContainerEvents {
  private readonly emitter = new EventEmitter();
  private readonly history: EngineEvent[] = [];
  private readonly labelMemo = new Map<string, Record<string, string>>();
  private last = 0n;
  /** Extra attributes (labels) of an object, looked up at emit time. */
  describe?: (type: EventType, id: string) => Record<string, string> | undefined;

  constructor(private readonly keep = 1000) {
    this.emitter.setMaxListeners(0);
  }

  emit(type: EventType, action: string, id: string, attributes: Record<string, string>): void {
    const key = `${type}:${id}`;
    const extra = this.describe?.(type, id) ?? this.labelMemo.get(key);
    if (extra && Object.keys(extra).length) this.labelMemo.set(key, extra);
    if (action === 'destroy') this.labelMemo.delete(key);
    // Strictly increasing times keep `since`/`until` windows exact even within one millisecond.
    let timeNano = BigInt(Date.now()) * 1_000_000n;
    if (timeNano <= this.last) timeNano = this.last + 1n;
    this.last = timeNano;
    const ev: EngineEvent = { type, action, id, attributes: { ...(extra ?? {}), ...attributes }, timeNano };
    this.history.push(ev);
    if (this.history.length > this.keep) this.history.shift();
    this.emitter.emit('event', ev);
  }

  since(timeNano: bigint, untilNano?: bigint): EngineEvent[] {
    return this.history.filter((e) => e.timeNano >= timeNano && (untilNano === undefined || e.timeNano <= untilNano));
  }

  subscribe(fn: (e: EngineEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}

const prefixOf = (values: string[], s: string | undefined) => s !== undefined && s !== '' && values.some((v) => s.startsWith(v));
const stripLatest = (s: string) => s.replace(/^docker\.io\/(library\/)?/, '').replace(/:latest$/, '');

/** Whether an event passes Docker's event filters. */
export function matchesEventFilters(e: EngineEvent, filters: EventFilters): boolean {
  for (const [key, values] of filters) {
    if (values.length === 0) continue;
    let ok = true;
    switch (key) {
      case 'type':
        ok = values.includes(e.type);
        break;
      case 'event':
        // Docker's exec actions carry the command after a colon ("exec_start: sh").
        ok = values.some((v) => e.action === v || e.action.startsWith(`${v}:`));
        break;
      case 'container':
        ok = e.type === 'container' && (prefixOf(values, e.id) || values.includes(e.attributes.name ?? '') || prefixOf(values, e.attributes.name));
        break;
      case 'image': {
        const img = e.type === 'image' ? e.attributes.name ?? e.id : e.attributes.image;
        ok = values.some((v) => v === img || (img !== undefined && stripLatest(v) === stripLatest(img)) || (e.type === 'image' && e.id.replace(/^sha256:/, '').startsWith(v.replace(/^sha256:/, ''))));
        break;
      }
      case 'label':
        ok = matchLabelFilters(values, e.attributes);
        break;
      case 'volume':
      case 'network':
        ok = e.type === key && (values.includes(e.id) || values.includes(e.attributes.name ?? ''));
        break;
      case 'daemon':
        ok = e.type === 'daemon' && values.includes(e.id);
        break;
      case 'scope':
        ok = values.includes('local');
        break;
      default:
        ok = true;
    }
    if (!ok) return false;
  }
  return true;
}
