/** The single-node bus: a group event goes straight to this node's handler. */
import type { Bus, GroupEvent, GroupEventHandler } from './bus.ts';

export class MemoryBus implements Bus {
  readonly name = 'memory';
  private handler: GroupEventHandler | null = null;

  async start(): Promise<void> {}

  async healthy(): Promise<boolean> {
    return true;
  }

  /** One node has no downstream log consumers: the store's logs are the record. */
  async appendPrivate(): Promise<void> {}

  async publishGroup(event: GroupEvent): Promise<void> {
    this.handler?.(event);
  }

  onGroupEvent(handler: GroupEventHandler): void {
    this.handler = handler;
  }

  async close(): Promise<void> {
    this.handler = null;
  }
}
