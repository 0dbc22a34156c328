import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeBackends, memoryBackends } from '../../src/backends.ts';
import { loadConfig } from '../../src/config/config.ts';
import { notificationLog } from '../../src/conversation-log/log-id.ts';
import type { Backends } from '../../src/node.ts';
import { GRPC_API_TOKEN, startGateway, TEST_SECRET, type RunningGateway } from '../support/gateway.ts';
import { OpenClients, TestClient, type Frame } from '../support/client.ts';
import { addMember, removeMember } from '../support/admin.ts';

describe('group messages', () => {
  let gw: RunningGateway;
  const clients = new OpenClients();
  const connect = (user: string, device: string): Promise<TestClient> => clients.connect(gw.wsUrl, user, device);
  const join = async (group: string, ...users: string[]): Promise<void> => {
    for (const u of users) expect((await addMember(gw.httpUrl, group, u)).ok).toBe(true);
  };

  beforeEach(async () => {
    gw = await startGateway();
  });
  afterEach(async () => {
    await clients.closeAll();
    await gw.stop();
  });

  it('reaches every member’s online devices once, with the sender’s sequence number', async () => {
    await join('team', 'alice', 'bob', 'carol');
    const alice = await connect('alice', 'phone');
    const aliceLaptop = await connect('alice', 'laptop');
    const bob = await connect('bob', 'phone');
    const bobTablet = await connect('bob', 'tablet');
    const carol = await connect('carol', 'phone');
    const id = alice.sendMessage('team', 'hi team', 'group');
    const ack = await alice.next('ack');
    expect(ack).toMatchObject({ msg_id: id, status: 'delivered' });
    for (const member of [aliceLaptop, bob, bobTablet, carol]) {
      expect(await member.next('message', (f) => f.msg_id === id)).toMatchObject({
        sender_id: 'alice',
        recipient_id: 'team',
        recipient_type: 'group',
        content: 'hi team',
        sequence_number: ack.sequence_number,
      });
    }
    await alice.nothing('message');
    await bob.nothing('message');
  });

  it('numbers a group’s messages strictly increasing across senders', async () => {
    await join('team', 'alice', 'bob');
    const alice = await connect('alice', 'phone');
    const bob = await connect('bob', 'phone');
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) {
      const sender = i % 2 === 0 ? alice : bob;
      sender.sendMessage('team', `m${i}`, 'group');
      seqs.push((await sender.next('ack')).sequence_number as number);
    }
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('refuses an unknown group and a sender who is not a member with INVALID_RECIPIENT', async () => {
    await join('team', 'alice');
    const mallory = await connect('mallory', 'phone');
    const unknown = mallory.sendMessage('nosuchgroup', 'x', 'group');
    expect(await mallory.next('error')).toMatchObject({ error_code: 'INVALID_RECIPIENT', msg_id: unknown });
    const outsider = mallory.sendMessage('team', 'x', 'group');
    expect(await mallory.next('error')).toMatchObject({ error_code: 'INVALID_RECIPIENT', msg_id: outsider });
    await mallory.nothing('ack');
  });

  it('delivers to an offline member on connect, oldest first, but not what came before joining', async () => {
    await join('team', 'alice');
    const alice = await connect('alice', 'phone');
    alice.sendMessage('team', 'before bob joined', 'group');
    await alice.next('ack');
    await join('team', 'bob');
    alice.sendMessage('team', 'first', 'group');
    alice.sendMessage('team', 'second', 'group');
    await alice.next('ack');
    await alice.next('ack');
    const bob = await connect('bob', 'phone');
    expect((await bob.next('message')).content).toBe('first');
    expect((await bob.next('message')).content).toBe('second');
    await bob.nothing('message');
  });

  it('stops delivering to a member who left', async () => {
    await join('team', 'alice', 'bob');
    const alice = await connect('alice', 'phone');
    const bob = await connect('bob', 'phone');
    expect((await removeMember(gw.httpUrl, 'team', 'bob')).status).toBe(200);
    expect(await bob.next('membership_change', (f) => f.change_type === 'leave')).toMatchObject({ group_id: 'team', user_id: 'bob' });
    const id = alice.sendMessage('team', 'after bob left', 'group');
    await alice.next('ack');
    await bob.nothing('message');
    bob.sendMessage('team', 'can I still?', 'group');
    expect(await bob.next('error')).toMatchObject({ error_code: 'INVALID_RECIPIENT' });
    expect(id).toBeTruthy();
  });
});

describe('group membership changes', () => {
  let gw: RunningGateway;
  let backends: Backends;
  /** Store appends per log kind (the log id up to its ':'). */
  let appends: Map<string, number>;
  const clients = new OpenClients();
  const connect = (user: string, device: string): Promise<TestClient> => clients.connect(gw.wsUrl, user, device);
  const join = async (group: string, ...users: string[]): Promise<void> => {
    for (const u of users) expect((await addMember(gw.httpUrl, group, u)).status).toBe(201);
  };
  const leave = async (group: string, ...users: string[]): Promise<void> => {
    for (const u of users) expect((await removeMember(gw.httpUrl, group, u)).status).toBe(200);
  };
  /** The next `count` membership changes, as [change_type, user_id]. */
  const changes = async (client: TestClient, count: number): Promise<string[][]> => {
    const got: Frame[] = [];
    for (let i = 0; i < count; i++) got.push(await client.next('membership_change'));
    return got.map((f) => [f.change_type as string, f.user_id as string]);
  };

  beforeEach(async () => {
    // The node's own memory store, with its appends counted.
    backends = memoryBackends(loadConfig({ JWT_SECRET: TEST_SECRET, GRPC_API_TOKENS: GRPC_API_TOKEN, NODE_ID: 'test-node' }));
    appends = new Map();
    const { store } = backends;
    const append = store.append.bind(store);
    store.append = (log, frame, options) => {
      const kind = log.slice(0, log.indexOf(':'));
      appends.set(kind, (appends.get(kind) ?? 0) + 1);
      return append(log, frame, options);
    };
    gw = await startGateway({}, backends);
  });
  afterEach(async () => {
    await clients.closeAll();
    await gw.stop();
    await closeBackends(backends);
  });

  it('announces a join to the online members and the joiner, and a leave to the members who remain and the leaver', async () => {
    await join('team', 'alice', 'bob');
    const alice = await connect('alice', 'phone');
    const bob = await connect('bob', 'phone');
    const bobLaptop = await connect('bob', 'laptop');
    const carol = await connect('carol', 'phone');
    const dave = await connect('dave', 'phone');
    // Replayed on connect: each member's own join and what came after it.
    expect(await changes(alice, 2)).toEqual([['join', 'alice'], ['join', 'bob']]);
    for (const c of [bob, bobLaptop]) expect(await changes(c, 1)).toEqual([['join', 'bob']]);
    await alice.nothing('membership_change', 50);

    const before = Date.now();
    await join('team', 'carol');
    for (const c of [alice, bob, bobLaptop, carol]) {
      const change = await c.next('membership_change');
      expect(change).toEqual({ type: 'membership_change', group_id: 'team', change_type: 'join', user_id: 'carol', timestamp: change.timestamp });
      expect(change.timestamp).toBeGreaterThanOrEqual(before);
    }

    await leave('team', 'bob');
    // The members who remain through the group; bob, no longer a member, through his own notifications.
    for (const c of [alice, carol, bob, bobLaptop]) {
      expect(await c.next('membership_change')).toMatchObject({ group_id: 'team', change_type: 'leave', user_id: 'bob' });
    }
    for (const c of [alice, bob, bobLaptop, carol]) await c.nothing('membership_change', 100);
    await dave.nothing('membership_change', 0);
    expect(appends.get('n')).toBe(1);
    expect(appends.get('m')).toBe(4);
  });

  it('gives an offline member the changes since its join on connect, not earlier ones, and none twice', async () => {
    await join('team', 'alice', 'bob');
    await leave('team', 'bob');
    await join('team', 'carol', 'dave');
    await leave('team', 'alice');

    const carol = await connect('carol', 'phone');
    expect(await changes(carol, 3)).toEqual([['join', 'carol'], ['join', 'dave'], ['leave', 'alice']]);
    await carol.nothing('membership_change');
    // A device that got them does not get them again; a new device of the member does, once.
    await carol.close();
    const again = await connect('carol', 'phone');
    await again.nothing('membership_change');
    const tablet = await connect('carol', 'tablet');
    expect(await changes(tablet, 3)).toEqual([['join', 'carol'], ['join', 'dave'], ['leave', 'alice']]);

    // Changes while a device was away: only those on its next connect.
    await tablet.close();
    await join('team', 'erin');
    expect(await changes(again, 1)).toEqual([['join', 'erin']]);
    const back = await connect('carol', 'tablet');
    expect(await changes(back, 1)).toEqual([['join', 'erin']]);
    await back.nothing('membership_change');

    // A member who left and rejoined gets the changes from the rejoin on, not those while away.
    await leave('team', 'dave');
    await join('team', 'frank');
    await join('team', 'dave');
    const dave = await connect('dave', 'phone');
    // Its own leave comes from its notifications, its rejoin from the group.
    const got = await changes(dave, 2);
    expect(got).toContainEqual(['leave', 'dave']);
    expect(got).toContainEqual(['join', 'dave']);
    await dave.nothing('membership_change');
  });

  it('leaves group message sequence numbers contiguous when joins interleave with messages', async () => {
    await join('team', 'alice');
    const alice = await connect('alice', 'phone');
    await alice.next('membership_change');
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      alice.sendMessage('team', `m${i}`, 'group');
      seqs.push((await alice.next('ack')).sequence_number as number);
      await join('team', `u${i}`);
      expect(await alice.next('membership_change')).toMatchObject({ change_type: 'join', user_id: `u${i}` });
    }
    expect(seqs).toEqual([1, 2, 3, 4, 5]);
    // u2 joined after m2: it gets m3 and m4 under their numbers, and the joins from its own on.
    const u2 = await connect('u2', 'phone');
    const messages = [await u2.next('message'), await u2.next('message')];
    expect(messages.map((m) => [m.content, m.sequence_number])).toEqual([['m3', 4], ['m4', 5]]);
    expect(await changes(u2, 3)).toEqual([['join', 'u2'], ['join', 'u3'], ['join', 'u4']]);
    await u2.nothing('message', 0);
    await u2.nothing('membership_change', 0);
  });

  it('costs one store append per join and two per leave, not one per member', async () => {
    const members = Array.from({ length: 300 }, (_, i) => `u${i}`);
    const first = await connect('u0', 'phone');
    await join('big', ...members);
    // Each join went to the group's membership log once; nobody's notification log grew.
    expect(Object.fromEntries(appends)).toEqual({ m: members.length });
    expect(await backends.store.lastPositions(members.map(notificationLog))).toEqual(members.map(() => 0));
    expect(await backends.store.lastPositions(['m:big', 'g:big'])).toEqual([members.length, 0]);
    // An online member still got every join from its own on, live.
    expect((await changes(first, members.length)).map(([, user]) => user)).toEqual(members);

    await leave('big', ...members.slice(0, 100));
    expect(Object.fromEntries(appends)).toEqual({ m: members.length + 100, n: 100 });
    expect(await first.next('membership_change')).toMatchObject({ change_type: 'leave', user_id: 'u0' });
    await first.nothing('membership_change');
  });
});
