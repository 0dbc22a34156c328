// Each socket sees each log in position order, once, with no gap, whatever
// order entries reach its node in: the node's LocalDelivery is handed stored
// entries out of order (as forwards and Kafka consumers of several nodes do)
// and a real client records what it receives.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryBackends } from '../src/backends.ts';
import { loadConfig } from '../src/config/config.ts';
import { GAP_WAIT_MS } from '../src/delivery/local-delivery.ts';
import type { MessageFrame } from '../src/protocol/frames.ts';
import { MemoryRegistry } from '../src/registry/memory-registry.ts';
import type { DeviceRecord } from '../src/registry/registry.ts';
import type { LogEntry } from '../src/conversation-log/entry.ts';
import { privateLog } from '../src/conversation-log/log-id.ts';
import { GRPC_API_TOKEN, startGateway, TEST_SECRET, token, type RunningGateway } from './support/gateway.ts';
import { OpenClients, TestClient, type Frame } from './support/client.ts';

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
    const result = await gw.backends.store.append(LOG, frame, { dedupKey: `alice:m${n}`, senderDevice: 'phone', participants: ['alice', 'bob'] });
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
    // The real memory registry, with registration slowed so live entries arrive in between.
    const config = loadConfig({ JWT_SECRET: TEST_SECRET, GRPC_API_TOKENS: GRPC_API_TOKEN, HOST: '127.0.0.1', PORT: '0', GRPC_PORT: '0' });
    const backends = memoryBackends(config);
    const registry = backends.registry as MemoryRegistry;
    const register = registry.register.bind(registry);
    let registering: (() => void) | null = null;
    registry.register = async (record: DeviceRecord) => {
      await new Promise<void>((resolve) => (registering = resolve));
      return register(record);
    };
    gw = await startGateway({}, backends);
    const bob = clients.add(new TestClient(gw.wsUrl, { headers: { Authorization: `Bearer ${await token('bob', 'laptop')}` } }));
    while (registering === null) await sleep(5);
    const [e1, e2] = [await stored(1), await stored(2)];
    live(e2);
    live(e1);
    (registering as () => void)();
    while (!bob.frames.some((f) => f.type === 'auth_response')) await sleep(5);
    expect(bob.frames[0]!.type).toBe('auth_response');
    await bob.next('auth_response');
    expect(await messages(bob, 2)).toEqual([1, 2]);
    await bob.nothing('message', 100);
  });
});
