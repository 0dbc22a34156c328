import { afterEach, describe, expect, it } from 'vitest';
import { memoryBackends } from '../src/backends.ts';
import { loadConfig } from '../src/config/config.ts';
import type { LogId } from '../src/conversation-log/log-id.ts';
import type { LoggedFrame } from '../src/protocol/frames.ts';
import { MemoryStore } from '../src/store/memory-store.ts';
import type { AppendOptions, AppendResult } from '../src/store/store.ts';
import { addMember } from './support/admin.ts';
import { OpenClients, TestClient } from './support/client.ts';
import { GRPC_API_TOKEN, startGateway, TEST_SECRET, type RunningGateway } from './support/gateway.ts';

/** A memory store whose next append fails, before or after it stored the entry (a lost reply). */
class FlakyStore extends MemoryStore {
  failNext: 'before' | 'after' | null = null;
  override async append(log: LogId, frame: LoggedFrame, options?: AppendOptions): Promise<AppendResult> {
    const mode = this.failNext;
    if (frame.type !== 'message' || mode === null) return super.append(log, frame, options);
    this.failNext = null;
    if (mode === 'before') throw new Error('connection reset before the command ran');
    await super.append(log, frame, options);
    throw new Error('connection reset before the reply arrived');
  }
}

describe('a store failure in the middle of a send', () => {
  let gw: RunningGateway;
  let store: FlakyStore;
  const clients = new OpenClients();
  const connect = (user: string): Promise<TestClient> => clients.connect(gw.wsUrl, user, 'phone');

  const start = async (): Promise<void> => {
    const config = loadConfig({ JWT_SECRET: TEST_SECRET, GRPC_API_TOKENS: GRPC_API_TOKEN });
    store = new FlakyStore(config.retention, { limit: 100, windowMs: 60_000 });
    gw = await startGateway({}, { ...memoryBackends(config), store });
  };

  afterEach(async () => {
    await clients.closeAll();
    await gw.stop();
  });

  it('answers CACHE_ERROR, and a message stored despite the error reaches the recipient once, live', async () => {
    await start();
    const alice = await connect('alice');
    const bob = await connect('bob');
    store.failNext = 'after';
    const id = alice.sendMessage('bob', 'reply lost');
    expect(await alice.next('error')).toMatchObject({ error_code: 'CACHE_ERROR', msg_id: id });
    // The client retries with the same msg_id: the message was kept.
    alice.sendMessage('bob', 'reply lost', 'user', { msg_id: id });
    expect(await alice.next('error')).toMatchObject({ error_code: 'DUPLICATE_MESSAGE', msg_id: id, sequence_number: 1 });
    expect(await bob.next('message', undefined, 5000)).toMatchObject({ msg_id: id, sequence_number: 1 });
    await bob.nothing('message', 600);
  });

  it('delivers a group message stored despite the error no later than the group’s next message, in order, once', async () => {
    await start();
    for (const u of ['alice', 'bob']) expect((await addMember(gw.httpUrl, 'room', u)).ok).toBe(true);
    const alice = await connect('alice');
    const bob = await connect('bob');
    const first = alice.sendMessage('room', 'first', 'group');
    expect(await bob.next('message', (f) => f.msg_id === first)).toMatchObject({ sequence_number: 1 });
    store.failNext = 'after';
    const lost = alice.sendMessage('room', 'to the room', 'group');
    expect(await alice.next('error')).toMatchObject({ error_code: 'CACHE_ERROR', msg_id: lost });
    const next = alice.sendMessage('room', 'and on', 'group');
    expect(await alice.next('ack', (f) => f.msg_id === next)).toMatchObject({ sequence_number: 3 });
    const got = [await bob.next('message'), await bob.next('message')];
    expect(got.map((f) => [f.msg_id, f.sequence_number])).toEqual([[lost, 2], [next, 3]]);
    await bob.nothing('message', 600);
  });

  it('stores and delivers the retry when the failed append never ran, once', async () => {
    await start();
    const alice = await connect('alice');
    const bob = await connect('bob');
    store.failNext = 'before';
    const id = alice.sendMessage('bob', 'not stored');
    expect(await alice.next('error')).toMatchObject({ error_code: 'CACHE_ERROR', msg_id: id });
    alice.sendMessage('bob', 'not stored', 'user', { msg_id: id });
    expect(await alice.next('ack')).toMatchObject({ msg_id: id, status: 'delivered' });
    expect(await bob.next('message')).toMatchObject({ msg_id: id });
    await bob.nothing('message', 600);
  });
});
