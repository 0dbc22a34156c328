// The SDK against a real gateway (in this process, on embedded defaults), over
// Node's own WebSocket; a TCP proxy in between where a test needs to break
// the connection in ways the gateway would not.
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bearerCallCredentials } from '../../../gateway/src/api/grpc-auth.ts';
import { loadGatewayService } from '../../../gateway/src/api/grpc-server.ts';
import { addMember } from '../../../gateway/test/support/admin.ts';
import { GRPC_API_TOKEN, startGateway, token, type RunningGateway } from '../../../gateway/test/support/gateway.ts';
import { GatewayClient, GatewayError, type GatewayClientOptions } from '../../src/index.ts';
import { Recorder, until } from '../support/recorder.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

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
    const writer = client('writer', 'laptop');
    const reader = client('reader', 'phone');
    await Promise.all([writer.client.connect(), reader.client.connect()]);
    expect([writer.client.userId, writer.client.deviceId, writer.client.state]).toEqual(['writer', 'laptop', 'connected']);
    expect(writer.stateTrail).toEqual(['connecting', 'connected']);

    const ack = await writer.client.send('reader', 'hello', { metadata: { k: 'v' } });
    expect(ack).toMatchObject({ status: 'delivered', sequenceNumber: expect.any(Number) });
    expect(writer.client.pending).toBe(0);
    await until('reader has the message', () => reader.messages.length === 1);
    expect(reader.messages[0]).toMatchObject({
      msgId: ack.msgId, senderId: 'writer', recipientId: 'reader', recipientType: 'user', conversation: 'user:writer',
      content: 'hello', metadata: { k: 'v' }, sequenceNumber: ack.sequenceNumber,
    });
  });

  it("shows a user's other device what it sent, under the same conversation as the replies", async () => {
    const laptop = client('multi', 'laptop');
    const phone = client('multi', 'phone');
    const peer = client('peer', 'phone');
    await Promise.all([laptop.client.connect(), phone.client.connect(), peer.client.connect()]);
    const sent = await laptop.client.send('peer', 'from the laptop');
    const reply = await peer.client.send('multi', 'reply');
    await until('the phone has both', () => phone.messages.length === 2);
    expect(phone.messages.map((m) => [m.conversation, m.content, m.sequenceNumber])).toEqual([
      ['user:peer', 'from the laptop', sent.sequenceNumber],
      ['user:peer', 'reply', reply.sequenceNumber],
    ]);
    // The sending device is not sent its own message.
    await until('the laptop has the reply', () => laptop.messages.length === 1);
    expect(laptop.contents).toEqual(['reply']);
  });

  it('connects with an Authorization header when asked (Node)', async () => {
    const nodeApp = client('node-app', 'server', { auth: 'header', token: await token('node-app', 'server') });
    await nodeApp.client.connect();
    expect(nodeApp.client.userId).toBe('node-app');
  });

  it('refuses a bad token with AUTH_FAILED and does not try again', async () => {
    const forger = client('forger', 'x', { token: await token('forger', 'x', { secret: 'another-secret-that-is-at-least-32-bytes' }) });
    await expect(forger.client.connect()).rejects.toMatchObject({ name: 'GatewayError', code: 'AUTH_FAILED' });
    expect(forger.client.state).toBe('disconnected');
    await new Promise((r) => setTimeout(r, 700));
    expect(forger.stateTrail).toEqual(['connecting', 'disconnected 4004']);
  });

  it("rejects a send the gateway refuses for good with the spec's code, and keeps nothing of it", async () => {
    const refused = client('refused', 'phone');
    await refused.client.connect();
    await expect(refused.client.send('no-such-group', 'hi', { group: true })).rejects.toMatchObject({ code: 'INVALID_RECIPIENT' });
    const tooLarge = refused.client.send('reader', 'x'.repeat(11_000), { msgId: 'refused-big' });
    await expect(tooLarge).rejects.toBeInstanceOf(GatewayError);
    await expect(tooLarge).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE', msgId: 'refused-big' });
    expect(refused.client.pending).toBe(0);
    expect(refused.errors).toEqual([]);
  });

  it('resolves a repeated msg_id with the original sequence number, as duplicate', async () => {
    const retrier = client('retrier', 'phone');
    await retrier.client.connect();
    const first = await retrier.client.send('reader', 'once', { msgId: 'retrier-once' });
    const again = await retrier.client.send('reader', 'once', { msgId: 'retrier-once' });
    expect(again).toEqual({ msgId: 'retrier-once', sequenceNumber: first.sequenceNumber, status: 'duplicate' });
  });

  it('gets what it missed offline in order, acks it, and is not sent it again on the next connect', async () => {
    const offlineSender = client('offline-sender', 'phone');
    await offlineSender.client.connect();
    for (let i = 1; i <= 5; i++) expect((await offlineSender.client.send('offline-receiver', `m${i}`)).status).toBe('offline');
    const offlineReceiver = client('offline-receiver', 'tablet');
    await offlineReceiver.client.connect();
    await until('offlineReceiver has the five', () => offlineReceiver.messages.length === 5);
    expect(offlineReceiver.contents).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    await offlineReceiver.client.close();
    await expectNothingReplayed(offlineReceiver, offlineSender);
  });

  it('marks a message read: the sender gets a read receipt', async () => {
    const readSender = client('read-sender', 'phone');
    const readReceiver = client('read-receiver', 'phone');
    await Promise.all([readSender.client.connect(), readReceiver.client.connect()]);
    const ack = await readSender.client.send('read-receiver', 'read me');
    await until('readReceiver has it', () => readReceiver.messages.length === 1);
    readReceiver.client.markRead(readReceiver.messages[0]!);
    await until('readSender has the receipt', () => readSender.receipts.length === 1);
    expect(readSender.receipts[0]).toMatchObject({ msgId: ack.msgId, readerId: 'read-receiver', readAt: expect.any(Number) });
  });

  it('reports membership changes and delivers group messages under the group conversation', async () => {
    const member1 = client('member-1', 'phone');
    const member2 = client('member-2', 'phone');
    await Promise.all([member1.client.connect(), member2.client.connect()]);
    expect((await addMember(gw.httpUrl, 'crew', 'member-1')).ok).toBe(true);
    expect((await addMember(gw.httpUrl, 'crew', 'member-2')).ok).toBe(true);
    await until('member1 saw both joins', () => member1.memberships.length === 2);
    expect(member1.memberships.map((c) => `${c.groupId} ${c.changeType} ${c.userId}`)).toEqual(['crew join member-1', 'crew join member-2']);
    const ack = await member2.client.send('crew', 'hi crew', { group: true });
    await until('member1 has it', () => member1.messages.length === 1);
    expect(member1.messages[0]).toMatchObject({ conversation: 'group:crew', recipientType: 'group', senderId: 'member-2', sequenceNumber: ack.sequenceNumber });
  });

  it('is replaced (4010) by a newer socket of the same device and does not fight back', async () => {
    const first = client('replaced', 'phone');
    await first.client.connect();
    const second = client('replaced', 'phone');
    await second.client.connect();
    await until('the first is told', () => first.client.state === 'disconnected');
    await new Promise((r) => setTimeout(r, 700));
    expect(first.stateTrail).toEqual(['connecting', 'connected', 'disconnected 4010']);
    expect(first.errors.map((e) => e.code)).toEqual(['CONNECTION_CLOSED']);
    expect(second.client.state).toBe('connected');
  });

  it('stops when a service closes it (CloseConnection, 4011), reporting the reason once, and comes back on connect()', async () => {
    const reviewed = client('reviewed', 'phone');
    await reviewed.client.connect();
    const rpc = new (loadGatewayService())(gw.grpcAddress, grpc.credentials.createInsecure());
    try {
      await new Promise((resolve, reject) => {
        const request = { user_id: 'reviewed', device_id: 'phone', reason: 'account review' };
        (rpc as unknown as { CloseConnection: (...args: unknown[]) => void }).CloseConnection(
          request, { credentials: bearerCallCredentials(GRPC_API_TOKEN) }, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res)));
      });
    } finally {
      rpc.close();
    }
    await until('reviewed is told', () => reviewed.client.state === 'disconnected');
    await new Promise((r) => setTimeout(r, 700));
    expect(reviewed.stateTrail).toEqual(['connecting', 'connected', 'disconnected 4011']);
    expect(reviewed.errors).toHaveLength(1);
    expect(reviewed.errors[0]).toMatchObject({ code: 'CONNECTION_CLOSED', message: expect.stringContaining('account review') });
    const unsent = reviewed.client.send('reader', 'after the review');
    await reviewed.client.connect();
    expect(await unsent).toMatchObject({ status: 'offline', sequenceNumber: expect.any(Number) });
  });

  it('rejects pending sends with CLOSED on close(), and refuses new ones', async () => {
    const closer = client('closer', 'phone');
    const unsent = closer.client.send('reader', 'never connected');
    expect(closer.client.pending).toBe(1);
    await closer.client.close();
    await expect(unsent).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(closer.client.send('reader', 'after close')).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(closer.client.connect()).rejects.toMatchObject({ code: 'CLOSED' });
    expect(closer.stateTrail).toEqual(['closed']);
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
      const lostAckSender = client('lost-ack-sender', 'phone', { url: proxy.wsUrl, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
      const lostAckReceiver = client('lost-ack-receiver', 'phone');
      await Promise.all([lostAckSender.client.connect(), lostAckReceiver.client.connect()]);

      proxy.holdDownstream = true;
      const sent = lostAckSender.client.send('lost-ack-receiver', 'ack lost');
      await until('lostAckReceiver has it (so it was stored)', () => lostAckReceiver.messages.length === 1);
      await new Promise((r) => setTimeout(r, 100));
      expect(lostAckSender.client.pending).toBe(1);
      proxy.cutAll();
      proxy.holdDownstream = false;

      const ack = await sent;
      expect(ack).toEqual({ msgId: lostAckReceiver.messages[0]!.msgId, sequenceNumber: lostAckReceiver.messages[0]!.sequenceNumber, status: 'duplicate' });
      expect(lostAckSender.client.pending).toBe(0);
      expect(lostAckSender.stateTrail).toEqual(['connecting', 'connected', 'disconnected 1006 (reconnecting)', 'connecting', 'connected']);
      await new Promise((r) => setTimeout(r, 200));
      expect(lostAckReceiver.contents).toEqual(['ack lost']);
    });

    it('drops the copies a replay sends again after its acks were lost, and acks them so they stop', async () => {
      const replayed = client('replayed', 'phone', { url: proxy.wsUrl, reconnect: { initialDelayMs: 50, maxDelayMs: 100 } });
      const replaySender = client('replay-sender', 'phone');
      await Promise.all([replayed.client.connect(), replaySender.client.connect()]);
      proxy.holdUpstream = true;
      for (const content of ['one', 'two', 'three']) await replaySender.client.send('replayed', content);
      await until('replayed has the three', () => replayed.messages.length === 3);
      await new Promise((r) => setTimeout(r, 100));
      // Her acks never reached the gateway: it replays all three on the next socket.
      proxy.cutAll();
      proxy.holdUpstream = false;
      await until('replayed is back', () => replayed.client.state === 'connected' && replayed.states.length > 2);
      await replaySender.client.send('replayed', 'four');
      await until('replayed has the fourth', () => replayed.messages.length >= 4);
      expect(replayed.contents).toEqual(['one', 'two', 'three', 'four']);
      // Acked this time: a third socket is sent nothing old.
      await replayed.client.close();
      await expectNothingReplayed(replayed, replaySender);
    });

    it('sends a send made while disconnected once it is connected again', async () => {
      const queuedSender = client('queued-sender', 'phone', { url: proxy.wsUrl, reconnect: { initialDelayMs: 300, maxDelayMs: 300 } });
      const queuedReceiver = client('queued-receiver', 'phone');
      await Promise.all([queuedSender.client.connect(), queuedReceiver.client.connect()]);
      proxy.cutAll();
      await until('queuedSender knows it is down', () => queuedSender.client.state !== 'connected');
      const acks = await Promise.all(['a', 'b', 'c'].map((content) => queuedSender.client.send('queued-receiver', content)));
      expect(acks.map((a) => a.status)).toEqual(['delivered', 'delivered', 'delivered']);
      await until('queuedReceiver has the three', () => queuedReceiver.messages.length === 3);
      expect(queuedReceiver.contents).toEqual(['a', 'b', 'c']);
    });

    it('finds a silent connection dead after three heartbeat intervals and reconnects', async () => {
      const silent = client('silent', 'phone', { url: proxy.wsUrl, heartbeatIntervalMs: 200, reconnect: { initialDelayMs: 50, maxDelayMs: 100 } });
      await silent.client.connect();
      // Heartbeats keep a quiet but healthy connection up.
      await new Promise((r) => setTimeout(r, 1_000));
      expect(silent.client.state).toBe('connected');
      const connections = proxy.connections;
      proxy.holdDownstream = true;
      proxy.holdUpstream = true;
      const heldAt = Date.now();
      await until('silent gave the connection up', () => silent.client.state !== 'connected', 3_000);
      expect(Date.now() - heldAt).toBeGreaterThanOrEqual(400);
      proxy.holdDownstream = false;
      proxy.holdUpstream = false;
      await until('silent is back', () => silent.client.state === 'connected', 5_000);
      expect(proxy.connections).toBeGreaterThan(connections);
      expect(silent.states.find((s) => s.state === 'disconnected')).toMatchObject({ code: 4007, willReconnect: true });
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
      const limitedSender = client('limited-sender', 'phone', { url: limited.wsUrl, reconnect: { initialDelayMs: 200, maxDelayMs: 1_000 } });
      const limitedReceiver = client('limited-receiver', 'phone', { url: limited.wsUrl });
      await Promise.all([limitedSender.client.connect(), limitedReceiver.client.connect()]);
      const started = Date.now();
      const contents = Array.from({ length: 8 }, (_, i) => `r${i}`);
      const acks = await Promise.all(contents.map((content) => limitedSender.client.send('limited-receiver', content)));
      // Three fit in a one-second window: the rest waited for the next windows.
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
      expect(new Set(acks.map((a) => a.sequenceNumber)).size).toBe(8);
      await until('limitedReceiver has all eight', () => limitedReceiver.messages.length >= 8, 5_000);
      expect(limitedReceiver.contents).toEqual(contents);
      expect(limitedSender.errors).toEqual([]);
    });

    it('refuses a device past the limit with DEVICE_LIMIT_EXCEEDED (4005) and does not try again', async () => {
      const first = client('many-devices', 'phone', { url: limited.wsUrl });
      await first.client.connect();
      const second = client('many-devices', 'laptop', { url: limited.wsUrl, reconnect: { initialDelayMs: 10, maxDelayMs: 10 } });
      await expect(second.client.connect()).rejects.toMatchObject({ code: 'DEVICE_LIMIT_EXCEEDED' });
      await new Promise((r) => setTimeout(r, 300));
      expect(second.stateTrail).toEqual(['connecting', 'disconnected 4005']);
      expect(first.client.state).toBe('connected');
    });
  });

  describe('on a gateway that closes a socket silent for one second', () => {
    let strict: RunningGateway;
    beforeAll(async () => {
      strict = await startGateway({ HEARTBEAT_TIMEOUT_MS: '1000' });
    });
    afterAll(async () => {
      await strict?.stop();
    });

    it('keeps an idle socket open with heartbeats; one heartbeating too rarely is closed (4007) and reconnects', async () => {
      const steady = client('steady', 'phone', { url: strict.wsUrl, heartbeatIntervalMs: 300 });
      const sleepy = client('sleepy', 'phone', { url: strict.wsUrl, heartbeatIntervalMs: 5_000, reconnect: { initialDelayMs: 50, maxDelayMs: 100 } });
      await Promise.all([steady.client.connect(), sleepy.client.connect()]);
      await new Promise((r) => setTimeout(r, 2_500));
      expect(steady.stateTrail).toEqual(['connecting', 'connected']);
      expect(sleepy.stateTrail.slice(0, 4)).toEqual(['connecting', 'connected', 'disconnected 4007 (reconnecting)', 'connecting']);
    });
  });

  describe('tokens', () => {
    it('keeps one socket alive across short-lived tokens by sending refresh_token before each exp', async () => {
      let minted = 0;
      const refreshed = client('refreshed', 'phone', {
        token: () => {
          minted++;
          return token('refreshed', 'phone', { expiresInSeconds: 2 });
        },
      });
      await refreshed.client.connect();
      await new Promise((r) => setTimeout(r, 4_500));
      expect(refreshed.client.state).toBe('connected');
      expect(refreshed.stateTrail).toEqual(['connecting', 'connected']);
      expect(minted).toBeGreaterThanOrEqual(3);
      expect(refreshed.errors).toEqual([]);
      expect((await refreshed.client.send('reader', 'still here')).sequenceNumber).toBeGreaterThan(0);
    });

    it('stops at TOKEN_EXPIRED (4003) with a fixed token, which cannot be renewed', async () => {
      const expiring = client('expiring', 'phone', { token: await token('expiring', 'phone', { expiresInSeconds: 1 }) });
      await expiring.client.connect();
      await until('the token expired', () => expiring.client.state === 'disconnected', 5_000);
      expect(expiring.stateTrail).toEqual(['connecting', 'connected', 'disconnected 4003']);
      expect(expiring.errors.map((e) => e.code)).toEqual(['TOKEN_EXPIRED']);
    });

    it('reconnects with a new token from the provider after TOKEN_EXPIRED', async () => {
      // The first token cannot be refreshed in time (the provider is slow once); the reconnect asks again.
      let calls = 0;
      const renewed = client('renewed', 'phone', {
        token: async () => {
          calls++;
          if (calls === 2) await new Promise((r) => setTimeout(r, 2_500));
          return token('renewed', 'phone', { expiresInSeconds: calls === 1 ? 1 : 60 });
        },
      });
      await renewed.client.connect();
      await until('renewed reconnected after the expiry', () => renewed.stateTrail.includes('disconnected 4003 (reconnecting)') && renewed.client.state === 'connected', 8_000);
      expect(calls).toBeGreaterThanOrEqual(3);
    });
  });
});
