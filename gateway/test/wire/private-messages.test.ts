import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../support/gateway.ts';
import { OpenClients, TestClient } from '../support/client.ts';

describe('private messages over a real socket', () => {
  let gw: RunningGateway;
  const clients = new OpenClients();
  const connect = (user: string, device: string): Promise<TestClient> => clients.connect(gw.wsUrl, user, device);

  beforeEach(async () => {
    gw = await startGateway();
  });
  afterEach(async () => {
    await clients.closeAll();
    await gw.stop();
  });

  it('authenticates and answers auth_response with user, device and timestamp', async () => {
    const alice = await TestClient.connect(gw.wsUrl, 'alice', 'phone');
    clients.add(alice);
    expect(alice.ws.readyState).toBe(1);
  });

  it('delivers to the recipient and acks the sender with the same sequence number', async () => {
    const alice = await connect('alice', 'phone');
    const bob = await connect('bob', 'laptop');
    const msgId = alice.sendMessage('bob', 'hello bob', 'user', { metadata: { reply_to: 'x' } });
    const ack = await alice.next('ack');
    const msg = await bob.next('message');
    expect(ack).toMatchObject({ msg_id: msgId, status: 'delivered' });
    expect(typeof ack.timestamp).toBe('number');
    expect(msg).toMatchObject({
      msg_id: msgId,
      sender_id: 'alice',
      recipient_id: 'bob',
      recipient_type: 'user',
      content: 'hello bob',
      sequence_number: ack.sequence_number,
      metadata: { reply_to: 'x' },
    });
  });

  it('numbers each conversation strictly increasing, in both directions', async () => {
    const alice = await connect('alice', 'phone');
    const bob = await connect('bob', 'laptop');
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      (i % 2 === 0 ? alice : bob).sendMessage(i % 2 === 0 ? 'bob' : 'alice', `m${i}`);
      seqs.push((await (i % 2 === 0 ? alice : bob).next('ack')).sequence_number as number);
    }
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
  });

  it('acks offline when the recipient has no device online, and delivers on connect, oldest first', async () => {
    const alice = await connect('alice', 'phone');
    const ids = [alice.sendMessage('bob', 'one'), alice.sendMessage('bob', 'two'), alice.sendMessage('bob', 'three')];
    for (const id of ids) expect(await alice.next('ack', (f) => f.msg_id === id)).toMatchObject({ status: 'offline' });
    const bob = await connect('bob', 'laptop');
    const got = [await bob.next('message'), await bob.next('message'), await bob.next('message')];
    expect(got.map((m) => m.content)).toEqual(['one', 'two', 'three']);
  });

  it('copies a message to the sender’s other devices but not to the sending one', async () => {
    const phone = await connect('alice', 'phone');
    const laptop = await connect('alice', 'laptop');
    await connect('bob', 'tablet');
    const id = phone.sendMessage('bob', 'sync me');
    await phone.next('ack');
    expect(await laptop.next('message')).toMatchObject({ msg_id: id, sender_id: 'alice', recipient_id: 'bob' });
    await phone.nothing('message');
  });

  it('replays unacked messages after reconnect, and not the acked ones', async () => {
    const alice = await connect('alice', 'phone');
    let bob = await connect('bob', 'laptop');
    const first = alice.sendMessage('bob', 'acked');
    bob.ack((await bob.next('message')).msg_id as string);
    const second = alice.sendMessage('bob', 'not acked');
    await bob.next('message', (f) => f.msg_id === second);
    await alice.next('ack');
    await alice.next('ack');
    // Let the ack land before the socket goes.
    await sleep(50);
    await bob.close();
    bob = await connect('bob', 'laptop');
    const replayed = await bob.next('message');
    expect(replayed.msg_id).toBe(second);
    await bob.nothing('message');
    expect(first).not.toBe(second);
  });

  it('refuses the same msg_id from the same sender with DUPLICATE_MESSAGE and delivers it once', async () => {
    const alice = await connect('alice', 'phone');
    const bob = await connect('bob', 'laptop');
    const id = alice.sendMessage('bob', 'once');
    const ack = await alice.next('ack');
    alice.sendMessage('bob', 'once', 'user', { msg_id: id });
    expect(await alice.next('error')).toMatchObject({ error_code: 'DUPLICATE_MESSAGE', msg_id: id, sequence_number: ack.sequence_number });
    await bob.next('message');
    await bob.nothing('message');
  });

  it('sends a read receipt to every device of the sender, queued for offline ones', async () => {
    const phone = await connect('alice', 'phone');
    const bob = await connect('bob', 'laptop');
    const id = phone.sendMessage('bob', 'read me');
    await phone.next('ack');
    await bob.next('message');
    bob.ack(id, 'read');
    expect(await phone.next('read_receipt')).toMatchObject({ msg_id: id, reader_id: 'bob' });
    const laptop = await connect('alice', 'laptop');
    const receipt = await laptop.next('read_receipt');
    expect(receipt).toMatchObject({ msg_id: id, reader_id: 'bob' });
    expect(typeof receipt.read_at).toBe('number');
  });
});
