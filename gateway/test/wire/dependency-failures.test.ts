import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { bearerCallCredentials } from '../../src/api/grpc-auth.ts';
import { memoryBackends } from '../../src/backends.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { LogId } from '../../src/conversation-log/log-id.ts';
import type { LoggedFrame } from '../../src/protocol/frames.ts';
import { MemoryStore } from '../../src/store/memory-store.ts';
import type { AppendOptions, AppendResult, GroupFloors, MessageLocation } from '../../src/store/store.ts';
import { loadGatewayService } from '../../src/proto/services.ts';
import { addMember, removeMember } from '../support/admin.ts';
import { OpenClients, TestClient } from '../support/client.ts';
import { ADMIN_TOKEN, GRPC_API_TOKEN, startGateway, TEST_SECRET, type RunningGateway } from '../support/gateway.ts';

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

/** A gateway on memory backends, with a store of this class in place of the memory one. */
async function gatewayWith<S extends MemoryStore>(Store: new (...args: ConstructorParameters<typeof MemoryStore>) => S): Promise<[RunningGateway, S]> {
  const config = loadConfig({ JWT_SECRET: TEST_SECRET, GRPC_API_TOKENS: GRPC_API_TOKEN });
  const store = new Store(config.retention, { limit: 100, windowMs: 60_000 });
  return [await startGateway({}, { ...memoryBackends(config), store }), store];
}

describe('a store failure in the middle of a send', () => {
  let gw: RunningGateway;
  let store: FlakyStore;
  const clients = new OpenClients();
  const connect = (user: string): Promise<TestClient> => clients.connect(gw.wsUrl, user, 'phone');

  const start = async (): Promise<void> => {
    [gw, store] = await gatewayWith(FlakyStore);
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

/**
 * A memory store that refuses the calls named in `down` (an append by the
 * prefix of its log id: `n:` notifications, `m:` membership changes, `p:`
 * pushes), as Redis does while it is away.
 */
class PartlyDownStore extends MemoryStore {
  readonly down = new Set<string>();
  private check(what: string): void {
    if (this.down.has(what)) throw new Error(`${what}: connection refused`);
  }
  override async append(log: LogId, frame: LoggedFrame, options?: AppendOptions): Promise<AppendResult> {
    this.check(`append ${log.slice(0, 2)}`);
    return super.append(log, frame, options);
  }
  override async findMessage(msgId: string): Promise<MessageLocation[]> {
    this.check('findMessage');
    return super.findMessage(msgId);
  }
  override async advanceCursor(userId: string, deviceId: string, log: LogId, pos: number): Promise<void> {
    this.check('advanceCursor');
    return super.advanceCursor(userId, deviceId, log, pos);
  }
  override async addMember(groupId: string, userId: string): Promise<{ added: boolean; floor: GroupFloors }> {
    this.check('addMember');
    return super.addMember(groupId, userId);
  }
  override async groupMembers(groupId: string): Promise<string[]> {
    this.check('groupMembers');
    return super.groupMembers(groupId);
  }
}

describe('a store failure on every other path answers CACHE_ERROR, as a send does', () => {
  let gw: RunningGateway;
  let store: PartlyDownStore;
  const clients = new OpenClients();
  const connect = (user: string): Promise<TestClient> => clients.connect(gw.wsUrl, user, 'phone');
  const rpcs: grpc.Client[] = [];

  const start = async (): Promise<void> => {
    [gw, store] = await gatewayWith(PartlyDownStore);
  };

  afterEach(async () => {
    for (const rpc of rpcs.splice(0)) rpc.close();
    await clients.closeAll();
    await gw.stop();
  });

  /** Alice sends Bob a message and Bob gets it; returns its msg_id. */
  const delivered = async (alice: TestClient, bob: TestClient): Promise<string> => {
    const id = alice.sendMessage('bob', 'hello');
    await alice.next('ack', (f) => f.msg_id === id);
    await bob.next('message', (f) => f.msg_id === id);
    return id;
  };

  it('a client ack that cannot be recorded gets CACHE_ERROR with its msg_id, and a retry once the store is back is taken', async () => {
    await start();
    const alice = await connect('alice');
    const bob = await connect('bob');
    const id = await delivered(alice, bob);
    for (const call of ['findMessage', 'advanceCursor']) {
      store.down.add(call);
      bob.ack(id);
      expect(await bob.next('error')).toMatchObject({ error_code: 'CACHE_ERROR', msg_id: id, error_message: 'message store unavailable; retry later' });
      store.down.delete(call);
    }
    bob.ack(id, 'read');
    expect(await alice.next('read_receipt')).toMatchObject({ msg_id: id, reader_id: 'bob' });
    await bob.nothing('error');
  });

  it('a read receipt (a notification) that cannot be stored fails the read ack with CACHE_ERROR', async () => {
    await start();
    const alice = await connect('alice');
    const bob = await connect('bob');
    const id = await delivered(alice, bob);
    store.down.add('append n:');
    bob.ack(id, 'read');
    expect(await bob.next('error')).toMatchObject({ error_code: 'CACHE_ERROR', msg_id: id });
    await alice.nothing('read_receipt');
  });

  it('a membership change whose store write fails is answered 503 CACHE_ERROR by the admin API', async () => {
    await start();
    store.down.add('addMember');
    const join = await addMember(gw.httpUrl, 'room', 'alice');
    expect(join.status).toBe(503);
    expect(await join.json()).toEqual({ error_code: 'CACHE_ERROR', error_message: 'message store unavailable; retry later' });
    store.down.clear();
    expect((await addMember(gw.httpUrl, 'room', 'alice')).status).toBe(201);
    // The change is made, but its announcement in the group's membership log fails: the caller hears of it.
    store.down.add('append m:');
    expect((await addMember(gw.httpUrl, 'room', 'bob')).status).toBe(503);
    store.down.clear();
    // The leaver's own notification (n:) fails.
    store.down.add('append n:');
    const leave = await removeMember(gw.httpUrl, 'room', 'alice');
    expect([leave.status, ((await leave.json()) as { error_code: string }).error_code]).toEqual([503, 'CACHE_ERROR']);
    store.down.clear();
    store.down.add('groupMembers');
    expect((await fetch(`${gw.httpUrl}/v1/groups/room/members`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(503);
  });

  it('a push that cannot be stored reports CACHE_ERROR in error_message', async () => {
    await start();
    const rpc = new (loadGatewayService())(gw.grpcAddress, grpc.credentials.createInsecure());
    rpcs.push(rpc);
    store.down.add('append p:');
    const request = { user_id: 'alice', device_id: '', msg_id: 'push-1', sender_id: 'billing', content: 'invoice ready', sequence_number: 1, timestamp: 0 };
    const response = await new Promise<unknown>((resolve, reject) => {
      (rpc as unknown as Record<string, (...args: unknown[]) => void>).PushMessage!.call(rpc, request, { deadline: Date.now() + 3000, credentials: bearerCallCredentials(GRPC_API_TOKEN) },
        (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)));
    });
    expect(response).toEqual({ success: false, status: 'failed', error_message: 'CACHE_ERROR: message store unavailable; retry later' });
  });
});
