// The SDK against a real gateway (in this process, on embedded defaults), over
// Node's own WebSocket; a TCP proxy in between where a test needs to break
// the connection in ways the gateway would not.
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bearerCallCredentials } from '../../gateway/src/api/grpc-auth.ts';
import { loadGatewayService } from '../../gateway/src/api/grpc-server.ts';
import { addMember } from '../../gateway/test/support/admin.ts';
import { GRPC_API_TOKEN, startGateway, token, type RunningGateway } from '../../gateway/test/support/gateway.ts';
import { GatewayClient, GatewayError, type GatewayClientOptions } from '../src/index.ts';
import { Recorder, until } from './support/recorder.ts';
import { TcpProxy } from './support/tcp-proxy.ts';

describe('the client SDK on one gateway', () => {
  let gw: RunningGateway;
  const open: GatewayClient[] = [];

  beforeAll(async () => {
    gw = await startGateway({ RATE_LIMIT_MESSAGES: '100000' });
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });
  afterAll(async () => {
    await gw?.stop();
  });

  function client(user: string, device: string, options: Partial<GatewayClientOptions> = {}): Recorder {
    const c = new GatewayClient({ url: gw.wsUrl, token: () => token(user, device), ...options });
    open.push(c);
    return new Recorder(c);
  }

  /**
   * Connects the (closed) app's device again: a message from `sender` is the
   * first it gets, so everything before was acked.
   */
  async function expectNothingReplayed(closed: Recorder, sender: Recorder): Promise<void> {
    const again = client(closed.client.userId!, closed.client.deviceId!);
    await again.client.connect();
    await sender.client.send(again.client.userId!, 'marker');
    await until('the marker came', () => again.messages.length > 0);
    expect(again.contents).toEqual(['marker']);
  }

  it('connects with the token as a subprotocol, sends, and the recipient gets the message once with its conversation', async () => {
    const alice = client('alice', 'laptop');
    const bob = client('bob', 'phone');
    await Promise.all([alice.client.connect(), bob.client.connect()]);
    expect([alice.client.userId, alice.client.deviceId, alice.client.state]).toEqual(['alice', 'laptop', 'connected']);
    expect(alice.stateTrail).toEqual(['connecting', 'connected']);

    const ack = await alice.client.send('bob', 'hello', { metadata: { k: 'v' } });
    expect(ack).toMatchObject({ status: 'delivered', sequenceNumber: expect.any(Number) });
    expect(alice.client.pending).toBe(0);
    await until('bob has the message', () => bob.messages.length === 1);
    expect(bob.messages[0]).toMatchObject({
      msgId: ack.msgId, senderId: 'alice', recipientId: 'bob', recipientType: 'user', conversation: 'user:alice',
      content: 'hello', metadata: { k: 'v' }, sequenceNumber: ack.sequenceNumber,
    });
  });

  it("shows a user's other device what it sent, under the same conversation as the replies", async () => {
    const laptop = client('abe', 'laptop');
    const phone = client('abe', 'phone');
    const beth = client('beth', 'phone');
    await Promise.all([laptop.client.connect(), phone.client.connect(), beth.client.connect()]);
    const sent = await laptop.client.send('beth', 'from the laptop');
    const reply = await beth.client.send('abe', 'reply');
    await until('the phone has both', () => phone.messages.length === 2);
    expect(phone.messages.map((m) => [m.conversation, m.content, m.sequenceNumber])).toEqual([
      ['user:beth', 'from the laptop', sent.sequenceNumber],
      ['user:beth', 'reply', reply.sequenceNumber],
    ]);
    // The sending device is not sent its own message.
    await until('the laptop has the reply', () => laptop.messages.length === 1);
    expect(laptop.contents).toEqual(['reply']);
  });

  it('connects with an Authorization header when asked (Node)', async () => {
    const carol = client('carol', 'server', { auth: 'header', token: await token('carol', 'server') });
    await carol.client.connect();
    expect(carol.client.userId).toBe('carol');
  });

  it('refuses a bad token with AUTH_FAILED and does not try again', async () => {
    const mallory = client('mallory', 'x', { token: await token('mallory', 'x', { secret: 'another-secret-that-is-at-least-32-bytes' }) });
    await expect(mallory.client.connect()).rejects.toMatchObject({ name: 'GatewayError', code: 'AUTH_FAILED' });
    expect(mallory.client.state).toBe('disconnected');
    await new Promise((r) => setTimeout(r, 700));
    expect(mallory.stateTrail).toEqual(['connecting', 'disconnected 4004']);
  });

  it("rejects a send the gateway refuses for good with the spec's code, and keeps nothing of it", async () => {
    const dave = client('dave', 'phone');
    await dave.client.connect();
    await expect(dave.client.send('no-such-group', 'hi', { group: true })).rejects.toMatchObject({ code: 'INVALID_RECIPIENT' });
    const tooLarge = dave.client.send('bob', 'x'.repeat(11_000), { msgId: 'dave-big' });
    await expect(tooLarge).rejects.toBeInstanceOf(GatewayError);
    await expect(tooLarge).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE', msgId: 'dave-big' });
    expect(dave.client.pending).toBe(0);
    expect(dave.errors).toEqual([]);
  });

  it('resolves a repeated msg_id with the original sequence number, as duplicate', async () => {
    const erin = client('erin', 'phone');
    await erin.client.connect();
    const first = await erin.client.send('bob', 'once', { msgId: 'erin-once' });
    const again = await erin.client.send('bob', 'once', { msgId: 'erin-once' });
    expect(again).toEqual({ msgId: 'erin-once', sequenceNumber: first.sequenceNumber, status: 'duplicate' });
  });

  it('gets what it missed offline in order, acks it, and is not sent it again on the next connect', async () => {
    const frank = client('frank', 'phone');
    await frank.client.connect();
    for (let i = 1; i <= 5; i++) expect((await frank.client.send('gina', `m${i}`)).status).toBe('offline');
    const gina = client('gina', 'tablet');
    await gina.client.connect();
    await until('gina has the five', () => gina.messages.length === 5);
    expect(gina.contents).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    await gina.client.close();
    await expectNothingReplayed(gina, frank);
  });

  it('marks a message read: the sender gets a read receipt', async () => {
    const hank = client('hank', 'phone');
    const ivy = client('ivy', 'phone');
    await Promise.all([hank.client.connect(), ivy.client.connect()]);
    const ack = await hank.client.send('ivy', 'read me');
    await until('ivy has it', () => ivy.messages.length === 1);
    ivy.client.markRead(ivy.messages[0]!);
    await until('hank has the receipt', () => hank.receipts.length === 1);
    expect(hank.receipts[0]).toMatchObject({ msgId: ack.msgId, readerId: 'ivy', readAt: expect.any(Number) });
  });

  it('reports membership changes and delivers group messages under the group conversation', async () => {
    const jack = client('jack', 'phone');
    const kate = client('kate', 'phone');
    await Promise.all([jack.client.connect(), kate.client.connect()]);
    expect((await addMember(gw.httpUrl, 'crew', 'jack')).ok).toBe(true);
    expect((await addMember(gw.httpUrl, 'crew', 'kate')).ok).toBe(true);
    await until('jack saw both joins', () => jack.memberships.length === 2);
    expect(jack.memberships.map((c) => `${c.groupId} ${c.changeType} ${c.userId}`)).toEqual(['crew join jack', 'crew join kate']);
    const ack = await kate.client.send('crew', 'hi crew', { group: true });
    await until('jack has it', () => jack.messages.length === 1);
    expect(jack.messages[0]).toMatchObject({ conversation: 'group:crew', recipientType: 'group', senderId: 'kate', sequenceNumber: ack.sequenceNumber });
  });

  it('is replaced (4010) by a newer socket of the same device and does not fight back', async () => {
    const first = client('liam', 'phone');
    await first.client.connect();
    const second = client('liam', 'phone');
    await second.client.connect();
    await until('the first is told', () => first.client.state === 'disconnected');
    await new Promise((r) => setTimeout(r, 700));
    expect(first.stateTrail).toEqual(['connecting', 'connected', 'disconnected 4010']);
    expect(first.errors.map((e) => e.code)).toEqual(['CONNECTION_CLOSED']);
    expect(second.client.state).toBe('connected');
  });

  it('stops when a service closes it (CloseConnection, 4011), reporting the reason once, and comes back on connect()', async () => {
    const zoe = client('zoe', 'phone');
    await zoe.client.connect();
    const rpc = new (loadGatewayService())(gw.grpcAddress, grpc.credentials.createInsecure());
    try {
      await new Promise((resolve, reject) => {
        const request = { user_id: 'zoe', device_id: 'phone', reason: 'account review' };
        (rpc as unknown as { CloseConnection: (...args: unknown[]) => void }).CloseConnection(
          request, { credentials: bearerCallCredentials(GRPC_API_TOKEN) }, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res)));
      });
    } finally {
      rpc.close();
    }
    await until('zoe is told', () => zoe.client.state === 'disconnected');
    await new Promise((r) => setTimeout(r, 700));
    expect(zoe.stateTrail).toEqual(['connecting', 'connected', 'disconnected 4011']);
    expect(zoe.errors).toHaveLength(1);
    expect(zoe.errors[0]).toMatchObject({ code: 'CONNECTION_CLOSED', message: expect.stringContaining('account review') });
    const unsent = zoe.client.send('bob', 'after the review');
    await zoe.client.connect();
    expect(await unsent).toMatchObject({ status: 'offline', sequenceNumber: expect.any(Number) });
  });

  it('rejects pending sends with CLOSED on close(), and refuses new ones', async () => {
    const mia = client('mia', 'phone');
    const unsent = mia.client.send('bob', 'never connected');
    expect(mia.client.pending).toBe(1);
    await mia.client.close();
    await expect(unsent).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(mia.client.send('bob', 'after close')).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(mia.client.connect()).rejects.toMatchObject({ code: 'CLOSED' });
    expect(mia.stateTrail).toEqual(['closed']);
  });

  describe('through a proxy that breaks the connection', () => {
    let proxy: TcpProxy;
    beforeAll(async () => {
      proxy = await TcpProxy.start(Number(new URL(gw.httpUrl).port));
    });
    afterAll(async () => {
      await proxy?.stop();
    });

    it('resends a send whose ack was lost with the same msg_id after reconnecting: resolved once, shown once', async () => {
      const nora = client('nora', 'phone', { url: proxy.wsUrl, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
      const owen = client('owen', 'phone');
      await Promise.all([nora.client.connect(), owen.client.connect()]);

      proxy.holdDownstream = true;
      const sent = nora.client.send('owen', 'ack lost');
      await until('owen has it (so it was stored)', () => owen.messages.length === 1);
      await new Promise((r) => setTimeout(r, 100));
      expect(nora.client.pending).toBe(1);
      proxy.cutAll();
      proxy.holdDownstream = false;

      const ack = await sent;
      expect(ack).toEqual({ msgId: owen.messages[0]!.msgId, sequenceNumber: owen.messages[0]!.sequenceNumber, status: 'duplicate' });
      expect(nora.client.pending).toBe(0);
      expect(nora.stateTrail).toEqual(['connecting', 'connected', 'disconnected 1006 (reconnecting)', 'connecting', 'connected']);
      await new Promise((r) => setTimeout(r, 200));
      expect(owen.contents).toEqual(['ack lost']);
    });

    it('drops the copies a replay sends again after its acks were lost, and acks them so they stop', async () => {
      const vera = client('vera', 'phone', { url: proxy.wsUrl, reconnect: { initialDelayMs: 50, maxDelayMs: 100 } });
      const walt = client('walt', 'phone');
      await Promise.all([vera.client.connect(), walt.client.connect()]);
      proxy.holdUpstream = true;
      for (const content of ['one', 'two', 'three']) await walt.client.send('vera', content);
      await until('vera has the three', () => vera.messages.length === 3);
      await new Promise((r) => setTimeout(r, 100));
      // Her acks never reached the gateway: it replays all three on the next socket.
      proxy.cutAll();
      proxy.holdUpstream = false;
      await until('vera is back', () => vera.client.state === 'connected' && vera.states.length > 2);
      await walt.client.send('vera', 'four');
      await until('vera has the fourth', () => vera.messages.length >= 4);
      expect(vera.contents).toEqual(['one', 'two', 'three', 'four']);
      // Acked this time: a third socket is sent nothing old.
      await vera.client.close();
      await expectNothingReplayed(vera, walt);
    });

    it('sends a send made while disconnected once it is connected again', async () => {
      const pia = client('pia', 'phone', { url: proxy.wsUrl, reconnect: { initialDelayMs: 300, maxDelayMs: 300 } });
      const quinn = client('quinn', 'phone');
      await Promise.all([pia.client.connect(), quinn.client.connect()]);
      proxy.cutAll();
      await until('pia knows it is down', () => pia.client.state !== 'connected');
      const acks = await Promise.all(['a', 'b', 'c'].map((content) => pia.client.send('quinn', content)));
      expect(acks.map((a) => a.status)).toEqual(['delivered', 'delivered', 'delivered']);
      await until('quinn has the three', () => quinn.messages.length === 3);
      expect(quinn.contents).toEqual(['a', 'b', 'c']);
    });

    it('finds a silent connection dead after three heartbeat intervals and reconnects', async () => {
      const ruth = client('ruth', 'phone', { url: proxy.wsUrl, heartbeatIntervalMs: 200, reconnect: { initialDelayMs: 50, maxDelayMs: 100 } });
      await ruth.client.connect();
      // Heartbeats keep a quiet but healthy connection up.
      await new Promise((r) => setTimeout(r, 1_000));
      expect(ruth.client.state).toBe('connected');
      const connections = proxy.connections;
      proxy.holdDownstream = true;
      proxy.holdUpstream = true;
      const heldAt = Date.now();
      await until('ruth gave the connection up', () => ruth.client.state !== 'connected', 3_000);
      expect(Date.now() - heldAt).toBeGreaterThanOrEqual(400);
      proxy.holdDownstream = false;
      proxy.holdUpstream = false;
      await until('ruth is back', () => ruth.client.state === 'connected', 5_000);
      expect(proxy.connections).toBeGreaterThan(connections);
      expect(ruth.states.find((s) => s.state === 'disconnected')).toMatchObject({ code: 4007, willReconnect: true });
    });
  });

  describe('on a gateway with tight limits', () => {
    let limited: RunningGateway;
    beforeAll(async () => {
      limited = await startGateway({ RATE_LIMIT_MESSAGES: '3', RATE_LIMIT_WINDOW_MS: '1000', MAX_DEVICES_PER_USER: '1' });
    });
    afterAll(async () => {
      await limited?.stop();
    });

    it('holds sends refused with RATE_LIMIT_EXCEEDED and resends them later, in order, until acked', async () => {
      const xena = client('xena', 'phone', { url: limited.wsUrl, reconnect: { initialDelayMs: 200, maxDelayMs: 1_000 } });
      const yuri = client('yuri', 'phone', { url: limited.wsUrl });
      await Promise.all([xena.client.connect(), yuri.client.connect()]);
      const started = Date.now();
      const contents = Array.from({ length: 8 }, (_, i) => `r${i}`);
      const acks = await Promise.all(contents.map((content) => xena.client.send('yuri', content)));
      // Three fit in a one-second window: the rest waited for the next windows.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
      expect(new Set(acks.map((a) => a.sequenceNumber)).size).toBe(8);
      await until('yuri has all eight', () => yuri.messages.length >= 8, 5_000);
      expect(yuri.contents).toEqual(contents);
      expect(xena.errors).toEqual([]);
    });

    it('refuses a device past the limit with DEVICE_LIMIT_EXCEEDED (4005) and does not try again', async () => {
      const first = client('ada', 'phone', { url: limited.wsUrl });
      await first.client.connect();
      const second = client('ada', 'laptop', { url: limited.wsUrl, reconnect: { initialDelayMs: 10, maxDelayMs: 10 } });
      await expect(second.client.connect()).rejects.toMatchObject({ code: 'DEVICE_LIMIT_EXCEEDED' });
      await new Promise((r) => setTimeout(r, 300));
      expect(second.stateTrail).toEqual(['connecting', 'disconnected 4005']);
      expect(first.client.state).toBe('connected');
    });
  });

  describe('tokens', () => {
    it('keeps one socket alive across short-lived tokens by sending refresh_token before each exp', async () => {
      let minted = 0;
      const sam = client('sam', 'phone', {
        token: () => {
          minted++;
          return token('sam', 'phone', { expiresInSeconds: 2 });
        },
      });
      await sam.client.connect();
      await new Promise((r) => setTimeout(r, 4_500));
      expect(sam.client.state).toBe('connected');
      expect(sam.stateTrail).toEqual(['connecting', 'connected']);
      expect(minted).toBeGreaterThanOrEqual(3);
      expect(sam.errors).toEqual([]);
      expect((await sam.client.send('bob', 'still here')).sequenceNumber).toBeGreaterThan(0);
    });

    it('stops at TOKEN_EXPIRED (4003) with a fixed token, which cannot be renewed', async () => {
      const tess = client('tess', 'phone', { token: await token('tess', 'phone', { expiresInSeconds: 1 }) });
      await tess.client.connect();
      await until('the token expired', () => tess.client.state === 'disconnected', 5_000);
      expect(tess.stateTrail).toEqual(['connecting', 'connected', 'disconnected 4003']);
      expect(tess.errors.map((e) => e.code)).toEqual(['TOKEN_EXPIRED']);
    });

    it('reconnects with a new token from the provider after TOKEN_EXPIRED', async () => {
      // The first token cannot be refreshed in time (the provider is slow once); the reconnect asks again.
      let calls = 0;
      const uma = client('uma', 'phone', {
        token: async () => {
          calls++;
          if (calls === 2) await new Promise((r) => setTimeout(r, 2_500));
          return token('uma', 'phone', { expiresInSeconds: calls === 1 ? 1 : 60 });
        },
      });
      await uma.client.connect();
      await until('uma reconnected after the expiry', () => uma.stateTrail.includes('disconnected 4003 (reconnecting)') && uma.client.state === 'connected', 8_000);
      expect(calls).toBeGreaterThanOrEqual(3);
    });
  });
});
