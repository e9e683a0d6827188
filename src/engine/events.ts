import { EventEmitter } from 'node:events';
import type { ContainerEvents } from './containers';

export interface EngineEvent {
  type: 'container' | 'image' | 'volume' | 'network' | 'daemon';
  action: string;
  id: string;
  attributes: Record<string, string>;
  /** Unix nanoseconds. */
  timeNano: bigint;
}

/** In-process event bus with a short history for `events --since`. */
export class EventBus implements ContainerEvents {
  private readonly emitter = new EventEmitter();
  private readonly history: EngineEvent[] = [];

  constructor(private readonly keep = 1000) {
    this.emitter.setMaxListeners(0);
  }

  emit(type: EngineEvent['type'], action: string, id: string, attributes: Record<string, string>): void {
    const ev: EngineEvent = { type, action, id, attributes, timeNano: BigInt(Date.now()) * 1_000_000n };
    this.history.push(ev);
    if (this.history.length > this.keep) this.history.shift();
    this.emitter.emit('event', ev);
  }

  since(timeNano: bigint): EngineEvent[] {
    return this.history.filter((e) => e.timeNano >= timeNano);
  }

  subscribe(fn: (e: EngineEvent) => void): () => void {
    this.emitter.on('event', fn);
    return () => this.emitter.off('event', fn);
  }
}
