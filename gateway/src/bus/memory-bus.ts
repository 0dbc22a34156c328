/** The single-node bus: a group event goes straight to this node's handler. */
import type { Bus, GroupEvent, GroupEventHandler } from './bus.ts';

export class MemoryBus implements Bus {
  readonly name = 'memory';
  private handler: GroupEventHandler | null = null;

  async healthy(): Promise<boolean> {
    return true;
  }

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
