/**
 * Records what a GatewayClient tells its app, so a test can wait for it and
 * then check it all: messages, state changes, errors, receipts, membership.
 */
import type { GatewayClient, MembershipChange, Message, Receipt, StateEvent } from '../../src/index.ts';
import type { GatewayError } from '../../src/index.ts';

export class Recorder {
  readonly client: GatewayClient;
  readonly messages: Message[] = [];
  readonly states: StateEvent[] = [];
  readonly errors: GatewayError[] = [];
  readonly receipts: Receipt[] = [];
  readonly memberships: MembershipChange[] = [];

  constructor(client: GatewayClient) {
    this.client = client;
    client.on('message', (m) => this.messages.push(m));
    client.on('state', (s) => this.states.push(s));
    client.on('error', (e) => this.errors.push(e));
    client.on('receipt', (r) => this.receipts.push(r));
    client.on('membership', (c) => this.memberships.push(c));
  }

  /** Contents of the messages received, in order. */
  get contents(): string[] {
    return this.messages.map((m) => m.content);
  }

  /** The states passed through, with the close code of each `disconnected`. */
  get stateTrail(): string[] {
    return this.states.map((s) => (s.state === 'disconnected' ? `disconnected ${s.code ?? ''}${s.willReconnect ? ' (reconnecting)' : ''}`.trim() : s.state));
  }
}

/** Polls until `probe` holds, or fails naming `what`. */
export async function until(what: string, probe: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
