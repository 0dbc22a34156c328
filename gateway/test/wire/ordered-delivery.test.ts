// Each socket sees each log in position order, once, with no gap, whatever
// order entries reach its node in: the node's LocalDelivery is handed stored
// entries out of order (as forwards and Kafka consumers of several nodes do)
// and a real client records what it receives.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GAP_WAIT_MS } from '../../src/delivery/local-delivery.ts';
import { MAX_HELD_LIVE } from '../../src/session/session.ts';
import type { MessageFrame } from '../../src/protocol/frames.ts';
import type { LogEntry } from '../../src/conversation-log/entry.ts';
import { privateLog } from '../../src/conversation-log/log-id.ts';
import { startGateway, startGatewayHoldingRegistrations, token, type HeldRegistrations, type RunningGateway } from '../support/gateway.ts';
import { OpenClients, TestClient, type Frame } from '../support/client.ts';

const LOG = privateLog('alice', 'bob');

describe('ordered delivery per socket', () => {
  let gw: RunningGateway;
  const clients = new OpenClients();

  beforeEach(async () => {
    gw = await startGateway();
  });
  afterEach(async () => {
    await clients.closeAll();
    await gw.stop();
  });

  /** Stores a message from alice to bob the way a send does, without delivering it. */
  async function stored(n: number): Promise<LogEntry> {
    const frame: MessageFrame = {
      type: 'message', msg_id: `m${n}`, sender_id: 'alice', recipient_id: 'bob', recipient_type: 'user',
      content: `c${n}`, sequence_number: 0, timestamp: Date.now(),
    };
    const result = await gw.backends.store.append(LOG, frame, { dedup: { scope: 'alice', id: `m${n}` }, senderDevice: 'phone', participants: ['alice', 'bob'] });
    if (result.status !== 'appended') throw new Error('not appended');
    return result.entry;
  }
  const live = (entry: LogEntry): number => gw.node.delivery.toUser('bob', LOG, entry, JSON.stringify(entry.frame));
  const messages = async (client: TestClient, n: number): Promise<number[]> => {
    const got: Frame[] = [];
    for (let i = 0; i < n; i++) got.push(await client.next('message'));
    return got.map((f) => f.sequence_number as number);
  };

  it('holds an entry that comes early until the one before it arrives, then writes both in order', async () => {
    const bob = await clients.connect(gw.wsUrl, 'bob', 'laptop');
    live(await stored(1));
    expect(await messages(bob, 1)).toEqual([1]);
    const [e2, e3] = [await stored(2), await stored(3)];
    live(e3);
    await bob.nothing('message', 50);
    live(e2);
    expect(await messages(bob, 2)).toEqual([2, 3]);
  });

  it('reads a gap that never arrives live from the store after a bounded wait', async () => {
    const bob = await clients.connect(gw.wsUrl, 'bob', 'laptop');
    live(await stored(1));
    expect(await messages(bob, 1)).toEqual([1]);
    await stored(2);
    const e3 = await stored(3);
    const started = Date.now();
    live(e3);
    expect(await messages(bob, 2)).toEqual([2, 3]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(GAP_WAIT_MS - 10);
    await bob.nothing('message', 300);
  });

  it('drops live copies of what the socket was given already', async () => {
    const bob = await clients.connect(gw.wsUrl, 'bob', 'laptop');
    const [e1, e2] = [await stored(1), await stored(2)];
    live(e1);
    live(e2);
    live(e1);
    live(e2);
    expect(await messages(bob, 2)).toEqual([1, 2]);
    await bob.nothing('message', 100);
  });

  it('on the first live entry of a log since connect, first writes what came after the device’s cursor', async () => {
    const bob = await clients.connect(gw.wsUrl, 'bob', 'laptop');
    // Stored while bob was online but never forwarded here (their node died), then the next one arrives.
    await stored(1);
    await stored(2);
    live(await stored(3));
    expect(await messages(bob, 3)).toEqual([1, 2, 3]);
  });

  it('after a reconnect, starts from what the device acked: replay, then live, without repeats', async () => {
    let bob = await clients.connect(gw.wsUrl, 'bob', 'laptop');
    const [e1, e2] = [await stored(1), await stored(2)];
    live(e1);
    live(e2);
    expect(await messages(bob, 2)).toEqual([1, 2]);
    bob.ack('m1');
    await sleep(50);
    await bob.close();
    bob = await clients.connect(gw.wsUrl, 'bob', 'laptop');
    const e3 = await stored(3);
    live(e2);
    live(e3);
    expect(await messages(bob, 2)).toEqual([2, 3]);
    await bob.nothing('message', 100);
  });

  it('writes nothing before auth_response: live entries during registration wait for replay', async () => {
    await gw.stop();
    let registrations: HeldRegistrations;
    ({ gw, registrations } = await startGatewayHoldingRegistrations());
    const bob = clients.add(new TestClient(gw.wsUrl, { headers: { Authorization: `Bearer ${await token('bob', 'laptop')}` } }));
    await registrations.underWay();
    const [e1, e2] = [await stored(1), await stored(2)];
    live(e2);
    live(e1);
    registrations.release();
    while (!bob.frames.some((f) => f.type === 'auth_response')) await sleep(5);
    expect(bob.frames[0]!.type).toBe('auth_response');
    await bob.next('auth_response');
    expect(await messages(bob, 2)).toEqual([1, 2]);
    await bob.nothing('message', 100);
  });

  it('reads from the log instead when more live entries arrive during registration than it holds, then goes live', async () => {
    await gw.stop();
    let registrations: HeldRegistrations;
    ({ gw, registrations } = await startGatewayHoldingRegistrations());
    const bob = clients.add(new TestClient(gw.wsUrl, { headers: { Authorization: `Bearer ${await token('bob', 'laptop')}` } }));
    await registrations.underWay();
    const count = MAX_HELD_LIVE + 5;
    for (let n = 1; n <= count; n++) live(await stored(n));
    registrations.release();
    await bob.next('auth_response');
    expect(await messages(bob, count)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
    // Live now, not stuck holding: the next entry goes straight out.
    live(await stored(count + 1));
    expect(await messages(bob, 1)).toEqual([count + 1]);
    await bob.nothing('message', 100);
  });
});
