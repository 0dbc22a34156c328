import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, token, type RunningGateway } from '../support/gateway.ts';
import { OpenClients, TestClient } from '../support/client.ts';

describe('limits', () => {
  let gw: RunningGateway | undefined;
  const clients = new OpenClients();
  const connect = (user: string, device: string): Promise<TestClient> => clients.connect(gw!.wsUrl, user, device);
  /** Opens a socket without waiting for auth_response (for refusals). */
  const open = async (user: string, device: string): Promise<TestClient> => {
    return clients.add(new TestClient(gw!.wsUrl, { headers: { Authorization: `Bearer ${await token(user, device)}` } }));
  };

  afterEach(async () => {
    await clients.closeAll();
    await gw?.stop();
  });

  it('refuses content over the limit, counted in UTF-8 bytes, with MESSAGE_TOO_LARGE', async () => {
    gw = await startGateway({ MAX_CONTENT_BYTES: '100' });
    const alice = await connect('alice', 'phone');
    const id = alice.sendMessage('bob', '€'.repeat(34)); // 34 characters, 102 bytes
    expect(await alice.next('error')).toMatchObject({ error_code: 'MESSAGE_TOO_LARGE', msg_id: id });
    alice.sendMessage('bob', '€'.repeat(33));
    expect(await alice.next('ack')).toMatchObject({ status: 'offline' });
  });

  it('closes the socket with 1009 on a frame over the hard cap', async () => {
    gw = await startGateway({ MAX_FRAME_BYTES: '1024' });
    const alice = await connect('alice', 'phone');
    alice.sendMessage('bob', 'x'.repeat(2000));
    expect((await alice.closed).code).toBe(1009);
  });

  it('answers RATE_LIMIT_EXCEEDED over the per-user rate, and closes on repeated violation', async () => {
    gw = await startGateway({ RATE_LIMIT_MESSAGES: '3', RATE_LIMIT_WINDOW_MS: '60000', RATE_LIMIT_MAX_VIOLATIONS: '2' });
    const phone = await connect('alice', 'phone');
    const laptop = await connect('alice', 'laptop');
    for (let i = 0; i < 3; i++) {
      phone.sendMessage('bob', `ok ${i}`);
      await phone.next('ack');
    }
    // The limit is per user: another device of the same user is limited too.
    const refused = laptop.sendMessage('bob', 'one too many');
    expect(await laptop.next('error')).toMatchObject({ error_code: 'RATE_LIMIT_EXCEEDED', msg_id: refused });
    laptop.sendMessage('bob', 'again');
    expect(await laptop.next('error')).toMatchObject({ error_code: 'RATE_LIMIT_EXCEEDED' });
    expect(await laptop.closed).toMatchObject({ code: 4008 });
    expect(phone.ws.readyState).toBe(1);
  });

  it('refuses a device beyond the per-user limit with DEVICE_LIMIT_EXCEEDED and 4005', async () => {
    gw = await startGateway({ MAX_DEVICES_PER_USER: '2' });
    await connect('alice', 'd1');
    await connect('alice', 'd2');
    const third = await open('alice', 'd3');
    expect(await third.next('error')).toMatchObject({ error_code: 'DEVICE_LIMIT_EXCEEDED' });
    expect((await third.closed).code).toBe(4005);
    // The same device reconnecting is a replacement, not a new device.
    await connect('alice', 'd2');
  });

  it('refuses sockets beyond the node’s cap with MAX_CONNECTIONS_EXCEEDED and 4006', async () => {
    gw = await startGateway({ MAX_CONNECTIONS: '2' });
    await connect('alice', 'd1');
    await connect('bob', 'd1');
    const extra = await open('carol', 'd1');
    expect(await extra.next('error')).toMatchObject({ error_code: 'MAX_CONNECTIONS_EXCEEDED' });
    expect((await extra.closed).code).toBe(4006);
  });

  it('closes a client that stops reading with 4009, and replays what it missed on reconnect', async () => {
    gw = await startGateway({ SEND_BUFFER_MAX_BYTES: '65536', RATE_LIMIT_MESSAGES: '100000' });
    const alice = await connect('alice', 'phone');
    const bob = await connect('bob', 'phone');
    const raw = (bob.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    const content = 'y'.repeat(8000);
    const sent: string[] = [];
    // Loopback socket buffers hold megabytes, so send until the gateway gives up on bob.
    let acked = '';
    for (let i = 0; i < 4000 && gw.node.hub.get('bob', 'phone') !== undefined; i++) {
      sent.push(alice.sendMessage('bob', content));
      if (i % 50 === 49) acked = (await alice.next('ack', (f) => f.msg_id === sent.at(-1))).msg_id as string;
      else await new Promise((r) => setImmediate(r));
    }
    raw.resume();
    expect((await bob.closed).code).toBe(4009);
    const seen = new Set(bob.frames.filter((f) => f.type === 'message').map((f) => f.msg_id as string));
    if (acked !== sent.at(-1)) await alice.next('ack', (f) => f.msg_id === sent.at(-1), 10_000);
    const again = await connect('bob', 'phone');
    const missing = sent.filter((id) => !seen.has(id));
    expect(missing.length).toBeGreaterThan(0);
    for (const id of missing) expect((await again.next('message', (f) => f.msg_id === id, 10_000)).msg_id).toBe(id);
  }, 60_000);
});
