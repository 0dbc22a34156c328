import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from './support/gateway.ts';
import { TestClient } from './support/client.ts';
import { addMember, removeMember } from './support/admin.ts';

describe('group messages', () => {
  let gw: RunningGateway;
  const clients: TestClient[] = [];
  const connect = async (user: string, device: string): Promise<TestClient> => {
    const c = await TestClient.connect(gw.wsUrl, user, device);
    clients.push(c);
    return c;
  };
  const join = async (group: string, ...users: string[]): Promise<void> => {
    for (const u of users) expect((await addMember(gw.httpUrl, group, u)).ok).toBe(true);
  };

  beforeEach(async () => {
    gw = await startGateway();
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
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
