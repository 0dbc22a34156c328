// The SDK on a fleet of two gateway processes on real Redis, etcd and Kafka:
// while messages flow, the node both apps are on drains (1012) or is killed
// (SIGKILL). Every send is acked, and the recipient app is shown every
// message once, in order.
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../../../e2e/fleet/fleet.ts';
import { FLEET_JWT_SECRET, type GatewayProcess } from '../../../e2e/fleet/gateway-process.ts';
import { GatewayClient, type SendAck } from '../../src/index.ts';
import { Recorder, until } from '../support/recorder.ts';

const MESSAGES = 60;
const SEND_EVERY_MS = 25;

describe('the client SDK on a fleet', () => {
  let fleet: Fleet;
  const open: GatewayClient[] = [];

  beforeAll(async () => {
    fleet = await startFleet(2, { RATE_LIMIT_MESSAGES: '100000' });
  }, 240_000);
  afterAll(async () => {
    await Promise.all(open.map((c) => c.close()));
    await fleet?.stop();
  }, 60_000);

  /** An app whose client tries `first`, then the other node. */
  function app(user: string, first: GatewayProcess, other: GatewayProcess): Recorder {
    const client = new GatewayClient({
      url: [first.wsUrl, other.wsUrl],
      token: () => new SignJWT({ user_id: user, device_id: 'phone' })
        .setProtectedHeader({ alg: 'HS256' })
        .setExpirationTime('10m')
        .sign(new TextEncoder().encode(FLEET_JWT_SECRET)),
      reconnect: { initialDelayMs: 100, maxDelayMs: 1_000 },
    });
    open.push(client);
    return new Recorder(client);
  }

  /** Sends MESSAGES messages at a steady pace, calling `disrupt` a third of the way in; resolves with every ack. */
  async function stream(sender: Recorder, to: string, disrupt: () => Promise<unknown>): Promise<SendAck[]> {
    const acks: Array<Promise<SendAck>> = [];
    let disrupted: Promise<unknown> = Promise.resolve();
    for (let i = 0; i < MESSAGES; i++) {
      if (i === MESSAGES / 3) disrupted = disrupt();
      acks.push(sender.client.send(to, `m${i}`));
      await new Promise((r) => setTimeout(r, SEND_EVERY_MS));
    }
    await disrupted;
    return Promise.all(acks);
  }

  function expectEveryMessageOnceInOrder(receiver: Recorder, acks: SendAck[]): void {
    expect(receiver.contents).toEqual(Array.from({ length: MESSAGES }, (_, i) => `m${i}`));
    expect(receiver.messages.map((m) => m.msgId)).toEqual(acks.map((a) => a.msgId));
    expect(receiver.messages.map((m) => m.sequenceNumber)).toEqual(acks.map((a) => a.sequenceNumber));
    const seqs = receiver.messages.map((m) => m.sequenceNumber);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  }

  /**
   * A sender and a receiver on `first` exchange a stream while `disrupt`
   * takes that node away: every send is acked and every message shown once,
   * in order. Resolves with both apps, `first` running again.
   */
  async function throughLoss(name: string, first: GatewayProcess, other: GatewayProcess, disrupt: () => Promise<unknown>): Promise<Recorder[]> {
    const sender = app(`${name}-sender`, first, other);
    const receiver = app(`${name}-receiver`, first, other);
    await Promise.all([sender.client.connect(), receiver.client.connect()]);
    const acks = await stream(sender, `${name}-receiver`, disrupt);
    await until('the receiver has every message', () => receiver.messages.length >= MESSAGES, 30_000);
    // Time for a copy shown twice to show up.
    await new Promise((r) => setTimeout(r, 300));
    expectEveryMessageOnceInOrder(receiver, acks);
    await first.start();
    return [sender, receiver];
  }

  it('follows a drain (1012) to the other node: every send acked, every message shown once, in order', async () => {
    const [a, b] = fleet.nodes as [GatewayProcess, GatewayProcess];
    for (const r of await throughLoss('drain', a, b, () => a.terminate())) {
      expect(r.stateTrail).toEqual(['connecting', 'connected', 'disconnected 1012 (reconnecting)', 'connecting', 'connected']);
    }
  }, 90_000);

  it('follows a killed node (SIGKILL) to the other node: every send acked, every message shown once, in order', async () => {
    const [a, b] = fleet.nodes as [GatewayProcess, GatewayProcess];
    for (const r of await throughLoss('kill', b, a, () => b.kill())) {
      expect(r.states.find((s) => s.state === 'disconnected')).toMatchObject({ code: 1006, willReconnect: true });
      expect(r.client.state).toBe('connected');
    }
  }, 90_000);
});
