/**
 * What a fleet promises a device, each promise a test (README, "A fleet"):
 * an acknowledged message reaches every recipient device, in sequence order
 * per conversation with no gap, once per connection, even when the node that
 * stored it dies before delivering it; and every send is answered in bounded
 * time while a dependency restarts. Three gateway processes on real Redis,
 * etcd and Kafka.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { getContainerRuntimeClient } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MessageFrame } from '../gateway/src/protocol/frames.ts';
import { RedisStore } from '../gateway/src/store/redis-store.ts';
import { privateLog } from '../gateway/src/conversation-log/log-id.ts';
import { FleetClients, type FleetClient } from './fleet/fleet-client.ts';
import { addMember, eventually, startFleet, type Fleet } from './fleet/fleet.ts';
import type { GatewayProcess } from './fleet/gateway-process.ts';

/** FORWARD_TIMEOUT_MS of the fleet below: the answer bound is this + 5 s after the dependency is back. */
const FORWARD_TIMEOUT_MS = 1000;
const ANSWER_BOUND_MS = FORWARD_TIMEOUT_MS + 5000;

describe('what a fleet promises a device', () => {
  let fleet: Fleet;
  const clients = new FleetClients(() => fleet.nodes.map((n) => n.wsUrl));
  const client = (user: string, device: string, i: number, pool?: () => string[]): Promise<FleetClient> => clients.connect(user, device, i, pool);

  beforeAll(async () => {
    fleet = await startFleet(3, { RATE_LIMIT_MESSAGES: '1000000', FORWARD_TIMEOUT_MS: String(FORWARD_TIMEOUT_MS) });
  }, 240_000);

  afterAll(async () => {
    await clients.closeAll();
    await fleet?.stop();
  }, 60_000);

  /**
   * What a node that dies right after storing a message leaves behind: the
   * message in its conversation log and in its outbox, acked, delivered to
   * nobody. The same append script the gateway runs, under a node id that
   * never comes back; `claimMs` is how long its claim on the outbox still
   * stands (as if it died that long before its claim would lapse).
   */
  async function storedByDeadNode(sender: string, recipient: string, claimMs: number): Promise<{ msgId: string; seq: number }> {
    const store = new RedisStore({
      url: fleet.redis.url,
      nodeId: `gw-dead-${++deadNodes}`,
      retention: { maxEntries: 10_000, maxAgeMs: 7 * 24 * 3_600_000, dedupTtlMs: 24 * 3_600_000 },
      rate: { limit: 1_000_000, windowMs: 60_000 },
    });
    await store.start();
    try {
      // As a node does before it takes sends: the claim lists its outbox for adoption.
      await store.claim(`gw-dead-${deadNodes}`, `gw-dead-${deadNodes}`, claimMs);
      const msgId = `${sender}-dead-${Date.now()}`;
      const frame: MessageFrame = {
        type: 'message', msg_id: msgId, sender_id: sender, recipient_id: recipient, recipient_type: 'user',
        content: 'stored, acked, never delivered', sequence_number: 0, timestamp: Date.now(),
      };
      const result = await store.append(privateLog(sender, recipient), frame, {
        dedup: { scope: sender, id: msgId }, senderDevice: 'phone', participants: [sender, recipient], outbox: true,
        sender: { userId: sender, now: Date.now() },
      });
      if (result.status !== 'appended') throw new Error(`not appended: ${result.status}`);
      return { msgId, seq: result.entry.pos };
    } finally {
      await store.close();
    }
  }
  let deadNodes = 0;

  it('reproduction: etcd down, a send stored on node B, B killed, etcd back: the retry through A is DUPLICATE_MESSAGE and the devices get the message', async () => {
    const [nodeA, nodeB] = fleet.nodes as [GatewayProcess, GatewayProcess, GatewayProcess];
    const sender = await client('e-sender', 'phone', 1);
    const receiver = await client('e-receiver', 'phone', 2);
    const first = await sender.send(receiver.userId, 'one');
    await receiver.waitFor([first.msgId]);
    sender.urls = () => [nodeA.wsUrl];
    const runtime = await getContainerRuntimeClient();
    await runtime.container.stop(runtime.container.getById(fleet.etcd.container.getId()), { timeout: 0 });
    const msgId = `e-sender-repro-${Date.now()}`;
    // Stored in Redis: acked, whatever etcd's state.
    expect(await sender.resend(msgId, receiver.userId, 'two')).toMatchObject({ type: 'ack', sequence_number: first.seq + 1 });
    await nodeB.kill();
    await fleet.etcd.restart();
    await eventually('the sender is back, on node A', () => sender.connected && sender.connectedTo === nodeA.wsUrl);
    expect(await sender.resend(msgId, receiver.userId, 'two')).toMatchObject({ error_code: 'DUPLICATE_MESSAGE', sequence_number: first.seq + 1 });
    await receiver.waitFor([msgId], 5_000);
    const third = await sender.send(receiver.userId, 'three');
    await receiver.waitFor([third.msgId]);
    expect([...receiver.received.values()].map((f) => f.sequence_number)).toEqual([first.seq, first.seq + 1, third.seq]);
    expect(receiver.outOfOrder).toEqual([]);
    await nodeB.start();
  }, 90_000);

  it('delivers a message its dead node never forwarded with the conversation’s next message, first and in order', async () => {
    const sender = await client('n-sender', 'phone', 0);
    const receiver = await client('n-receiver', 'phone', 2);
    const first = await sender.send(receiver.userId, 'before');
    await receiver.waitFor([first.msgId]);
    const lost = await storedByDeadNode(sender.userId, receiver.userId, 60_000);
    await sleep(500);
    expect(receiver.received.has(lost.msgId)).toBe(false);
    const next = await sender.send(receiver.userId, 'after');
    await receiver.waitFor([lost.msgId, next.msgId], 5_000);
    expect([...receiver.received.values()].map((f) => f.sequence_number)).toEqual([first.seq, lost.seq, next.seq]);
    expect(receiver.outOfOrder).toEqual([]);
  }, 60_000);

  it('delivers a message its dead node never forwarded in a conversation that goes quiet, once the node’s claim lapses', async () => {
    const receiver = await client('q-receiver', 'phone', 1);
    // Past the check a node makes of a new socket's logs a second after connect (which would find it too).
    await sleep(1_500);
    const lost = await storedByDeadNode('q-sender', receiver.userId, 3_000);
    const storedAt = Date.now();
    await sleep(2_000);
    expect(receiver.received.has(lost.msgId)).toBe(false);
    // Another node adopts the outbox at its first sweep (every 2 s) after the claim lapsed, and drives it.
    await receiver.waitFor([lost.msgId], 10_000);
    expect(Date.now() - storedAt).toBeLessThan(3_000 + 2 * 2_000 + 1_000);
    expect(receiver.duplicates).toBe(0);
  }, 60_000);

  it('delivers a message its dead node never forwarded when the sender retries it: DUPLICATE_MESSAGE, then the devices get it', async () => {
    const sender = await client('t-sender', 'phone', 0);
    const receiver = await client('t-receiver', 'phone', 2);
    const lost = await storedByDeadNode(sender.userId, receiver.userId, 60_000);
    expect(await sender.resend(lost.msgId, receiver.userId, 'stored, acked, never delivered')).toMatchObject({
      error_code: 'DUPLICATE_MESSAGE', sequence_number: lost.seq,
    });
    await receiver.waitFor([lost.msgId], 2_000);
  }, 60_000);

  it('keeps each receiving device’s order when two nodes write one conversation and one group fast', async () => {
    const group = 'o-room';
    for (const u of ['o-x', 'o-r1', 'o-r2']) await addMember(fleet.nodes[0]!, group, u);
    // One user's two devices on two nodes write to the same conversation and group.
    const writers = [await client('o-x', 'phone', 0), await client('o-x', 'laptop', 1)];
    const receivers = [await client('o-r1', 'phone', 2), await client('o-r2', 'phone', 2), await client('o-r2', 'tablet', 0)];
    const toR1: string[] = [];
    const toGroup: string[] = [];
    const loops = writers.flatMap((w) =>
      Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 60; i++) {
          toR1.push((await w.send('o-r1', `p${i}`)).msgId);
          toGroup.push((await w.send(group, `g${i}`, 'group')).msgId);
        }
      }),
    );
    await Promise.all(loops);
    await receivers[0]!.waitFor([...toR1, ...toGroup]);
    for (const r of receivers.slice(1)) await r.waitFor(toGroup);
    for (const r of receivers) {
      expect(r.outOfOrder).toEqual([]);
      expect(r.duplicates).toBe(0);
    }
  }, 120_000);

  it('gives a device that acks and drops mid-stream everything after its ack on reconnect, in order', async () => {
    const sender = await client('a-sender', 'phone', 0);
    const receiver = await client('a-receiver', 'phone', 2);
    const sent: string[] = [];
    let flowing = true;
    const traffic = (async () => {
      for (let i = 0; flowing || i < 50; i++) sent.push((await sender.send(receiver.userId, `m${i}`)).msgId);
    })();
    for (let drop = 0; drop < 3; drop++) {
      await sleep(300);
      receiver.drop();
    }
    flowing = false;
    await traffic;
    await receiver.waitFor(sent);
    expect(receiver.outOfOrder).toEqual([]);
    expect(receiver.closeCodes.length).toBe(3);
  }, 60_000);

  it('sends nothing twice across the switch from replay to live, when a device connects while messages flow to it', async () => {
    const sender = await client('r-sender', 'phone', 0);
    const sent: string[] = [];
    for (let i = 0; i < 100; i++) sent.push((await sender.send('r-receiver', `backlog ${i}`)).msgId);
    let flowing = true;
    const traffic = (async () => {
      for (let i = 0; flowing; i++) sent.push((await sender.send('r-receiver', `live ${i}`)).msgId);
    })();
    await sleep(100);
    const receiver = await client('r-receiver', 'phone', 1);
    await sleep(1500);
    flowing = false;
    await traffic;
    await receiver.waitFor(sent);
    expect(receiver.duplicates).toBe(0);
    expect(receiver.outOfOrder).toEqual([]);
    expect([...receiver.received.values()][0]!.sequence_number).toBe(1);
  }, 60_000);

  for (const dependency of ['redis', 'kafka', 'etcd'] as const) {
    it(`answers every send within ${ANSWER_BOUND_MS} ms of ${dependency} being back while 20 clients send, and loses nothing acknowledged`, async () => {
      const tag = `c-${dependency}`;
      const senders = await Promise.all(Array.from({ length: 20 }, (_, i) => client(`${tag}-s${i}`, 'phone', i % 3)));
      const receiver = await client(`${tag}-r`, 'phone', 2);
      const acked: string[] = [];
      let flowing = true;
      const traffic = senders.map(async (s) => {
        while (flowing) {
          // Waits for an answer far past the bound, so a late one is seen as late, not as lost.
          acked.push((await s.send(receiver.userId, 'x', 'user', 120_000, 3 * ANSWER_BOUND_MS)).msgId);
          await sleep(20);
        }
      });
      await sleep(500);
      const restartedAt = Date.now();
      await fleet[dependency].restart();
      const backAt = Date.now();
      await sleep(2000);
      flowing = false;
      await Promise.all(traffic);
      const attempts = senders.flatMap((s) => s.attempts.filter((a) => a.sentAt >= restartedAt - 500));
      const late = attempts.filter((a) => a.answeredAt === null || a.answeredAt > Math.max(a.sentAt, backAt) + ANSWER_BOUND_MS);
      expect(late).toEqual([]);
      expect(attempts.length).toBeGreaterThan(40);
      await receiver.waitFor(acked, 60_000);
      expect(receiver.outOfOrder).toEqual([]);
    }, 180_000);
  }
});
