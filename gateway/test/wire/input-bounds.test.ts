// Every input bounded at the edge, over the wire against a real gateway: each
// case is a finding of an attack on the gateway, kept as a regression test.
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { bearerCallCredentials } from '../../src/api/grpc-auth.ts';
import { loadGatewayService } from '../../src/api/grpc-server.ts';
import { normalizeOrigin } from '../../src/api/ws-server.ts';
import { ConnectionControl } from '../../src/delivery/connection-control.ts';
import type { RetryQueue } from '../../src/delivery/retry-queue.ts';
import type { MessageFrame, Metadata } from '../../src/protocol/frames.ts';
import { groupLog, privateLog } from '../../src/conversation-log/log-id.ts';
import { addMember } from '../support/admin.ts';
import { OpenClients, TestClient } from '../support/client.ts';
import { ADMIN_TOKEN, GRPC_API_TOKEN, startGateway, token, type RunningGateway } from '../support/gateway.ts';
import { flood, rawSocket } from '../support/raw-frames.ts';

/** `{"a":{"a":...1...}}` nested `depth` levels, as text. */
const nestedText = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** The same nesting built as objects, as a store could hold it from before metadata was bounded. */
function nestedObject(depth: number): Metadata {
  let value: Metadata = { a: 1 };
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

function message(msgId: string, from: string, to: string, type: 'user' | 'group', metadata?: Metadata): MessageFrame {
  const frame: MessageFrame = { type: 'message', msg_id: msgId, sender_id: from, recipient_id: to, recipient_type: type, content: 'x', sequence_number: 0, timestamp: Date.now() };
  if (metadata !== undefined) frame.metadata = metadata;
  return frame;
}

describe('input bounds', () => {
  let gw: RunningGateway | undefined;
  const clients = new OpenClients();
  const connect = (user: string, device: string): Promise<TestClient> => clients.connect(gw!.wsUrl, user, device);

  afterEach(async () => {
    await clients.closeAll();
    await gw?.stop();
    gw = undefined;
  });

  describe('metadata', () => {
    it('refuses metadata nested 10,000 deep with INVALID_MESSAGE_FORMAT naming the field, and stores nothing', async () => {
      gw = await startGateway();
      const alice = await connect('alice', 'phone');
      alice.ws.send(`{"type":"send_msg","msg_id":"deep","recipient_id":"bob","recipient_type":"user","content":"x","metadata":${nestedText(10_000)}}`);
      const err = await alice.next('error');
      expect(err).toMatchObject({ error_code: 'INVALID_MESSAGE_FORMAT', msg_id: 'deep' });
      expect(err.error_message).toMatch(/"metadata" must not nest deeper than 8 levels/);
      // Nothing was stored: bob connects and gets no message, and the socket stays usable.
      const bob = await connect('bob', 'phone');
      await bob.nothing('message');
      alice.sendMessage('bob', 'after', 'user', { metadata: nestedObject(8) });
      expect(await bob.next('message')).toMatchObject({ content: 'after', metadata: nestedObject(8) });
    });

    it('refuses metadata with more than 256 keys and array items in all', async () => {
      gw = await startGateway();
      const alice = await connect('alice', 'phone');
      const many = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, [1, 2]]));
      alice.sendMessage('bob', 'x', 'user', { metadata: many });
      expect((await alice.next('error')).error_message).toMatch(/"metadata" must hold at most 256 keys and array items/);
    });

    it('counts metadata with content against MAX_CONTENT_BYTES', async () => {
      gw = await startGateway({ MAX_CONTENT_BYTES: '100' });
      const alice = await connect('alice', 'phone');
      const bob = await connect('bob', 'phone');
      // 60 bytes of content and 49 bytes of metadata JSON: 109 bytes.
      const refused = alice.sendMessage('bob', 'c'.repeat(60), 'user', { metadata: { note: 'm'.repeat(38) } });
      expect(await alice.next('error')).toMatchObject({ error_code: 'MESSAGE_TOO_LARGE', msg_id: refused });
      // 60 + 39 bytes: accepted and delivered whole.
      alice.sendMessage('bob', 'c'.repeat(60), 'user', { metadata: { note: 'm'.repeat(28) } });
      expect(await alice.next('ack')).toMatchObject({ status: 'delivered' });
      expect((await bob.next('message')).metadata).toEqual({ note: 'm'.repeat(28) });
    });
  });

  describe('stored entries that cannot be encoded', () => {
    it('skips such an entry on replay instead of locking the recipient out', async () => {
      gw = await startGateway();
      const store = gw.backends.store;
      const options = { participants: ['alice', 'bob'] };
      await store.append(privateLog('alice', 'bob'), message('bad', 'alice', 'bob', 'user', nestedObject(10_000)), options);
      await store.append(privateLog('alice', 'bob'), message('good', 'alice', 'bob', 'user'), options);
      const bob = await connect('bob', 'phone');
      expect(await bob.next('message')).toMatchObject({ msg_id: 'good', sequence_number: 2 });
      expect(bob.frames.filter((f) => f.type === 'message' || f.type === 'error')).toEqual([]);
      expect(bob.ws.readyState).toBe(WebSocket.OPEN);
    });

    it('drops such an entry from group fan-out instead of retrying it at the head of the queue', async () => {
      gw = await startGateway();
      expect((await addMember(gw.httpUrl, 'team', 'alice')).status).toBe(201);
      expect((await addMember(gw.httpUrl, 'team', 'bob')).status).toBe(201);
      const bob = await connect('bob', 'phone');
      const bad = await gw.backends.store.append(groupLog('team'), message('bad', 'alice', 'team', 'group', nestedObject(10_000)));
      if (bad.status !== 'appended') throw new Error('not appended');
      await gw.backends.bus.publishGroup({ groupId: 'team', entry: bad.entry });
      const alice = await connect('alice', 'phone');
      alice.sendMessage('team', 'fine', 'group');
      expect(await bob.next('message')).toMatchObject({ content: 'fine' });
      const retries = (gw.node as unknown as { retries: RetryQueue }).retries;
      expect(retries.size).toBe(0);
    });
  });

  describe('send buffer', () => {
    it('closes a client that never reads with 4009 however small the replies, keeping the buffer near the cap', async () => {
      gw = await startGateway({ SEND_BUFFER_MAX_BYTES: '65536', MAX_FRAMES_PER_SECOND: '100000000' });
      const alice = await connect('alice', 'phone');
      const server = gw.node.hub.get('alice', 'phone')!;
      const raw = rawSocket(alice);
      raw.pause();
      const heapBefore = process.memoryUsage().heapUsed;
      // Each frame gets an INVALID_MESSAGE_FORMAT error naming its 100-character msg_id.
      const frame = JSON.stringify({ type: 'send_msg', msg_id: 'i'.repeat(100) });
      for (let round = 0; round < 20 && !server.closing; round++) {
        flood(alice, frame, 10_000);
        await sleep(100);
      }
      expect(server.closing).toBe(true);
      // The cap plus the one frame that crossed it and the close frame.
      expect(server.bufferedAmount).toBeLessThan(65536 + 4096);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
      raw.resume();
      expect((await alice.closed).code).toBe(4009);
    }, 30_000);
  });

  describe('frame rate', () => {
    it('answers a flood of 50,000 heartbeats with RATE_LIMIT_EXCEEDED and close 4008, after at most MAX_FRAMES_PER_SECOND replies', async () => {
      gw = await startGateway();
      const alice = await connect('alice', 'phone');
      flood(alice, '{"type":"heartbeat"}', 50_000);
      expect((await alice.closed).code).toBe(4008);
      const error = alice.frames.find((f) => f.type === 'error');
      expect(error).toMatchObject({ error_code: 'RATE_LIMIT_EXCEEDED', error_message: 'more than 10000 frames in one second' });
      expect(alice.frames.filter((f) => f.type === 'heartbeat_response').length).toBeLessThanOrEqual(10_000);
    });

    it('lets a client send up to the limit every second', async () => {
      gw = await startGateway({ MAX_FRAMES_PER_SECOND: '50' });
      const alice = await connect('alice', 'phone');
      for (let second = 0; second < 2; second++) {
        flood(alice, '{"type":"heartbeat"}', 45);
        for (let i = 0; i < 45; i++) await alice.next('heartbeat_response');
        await sleep(1000);
      }
      expect(alice.ws.readyState).toBe(WebSocket.OPEN);
    });
  });

  describe('client timestamps', () => {
    it('refuses a timestamp that is not whole milliseconds since epoch', async () => {
      gw = await startGateway();
      const alice = await connect('alice', 'phone');
      for (const timestamp of [1.5, -1, 1e300, '1706180400000']) {
        alice.send({ type: 'ack', msg_id: 'm1', status: 'read', timestamp });
        expect((await alice.next('error')).error_message).toMatch(/"timestamp" must be a number of whole milliseconds/);
      }
    });

    it('takes read_at from the ack only within a day before server time, else the server time', async () => {
      gw = await startGateway();
      const alice = await connect('alice', 'phone');
      const bob = await connect('bob', 'phone');
      const read = async (timestamp: number): Promise<number> => {
        const msgId = alice.sendMessage('bob', 'hi');
        await bob.next('message', (f) => f.msg_id === msgId);
        bob.send({ type: 'ack', msg_id: msgId, status: 'read', timestamp });
        return (await alice.next('read_receipt', (f) => f.msg_id === msgId)).read_at as number;
      };
      const hourAgo = Date.now() - 3600_000;
      expect(await read(hourAgo)).toBe(hourAgo);
      for (const wrong of [0, Date.now() - 2 * 86_400_000, Date.now() + 3600_000]) {
        const before = Date.now();
        const readAt = await read(wrong);
        expect(readAt).toBeGreaterThanOrEqual(before);
        expect(readAt).toBeLessThanOrEqual(Date.now());
      }
    });
  });

  describe('Origin', () => {
    const upgrade = (url: string, origin: string): Promise<number> =>
      new Promise((resolve) => {
        const ws = new WebSocket(url, { origin });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('upgrade', () => resolve(101));
        ws.on('error', () => {});
        ws.on('open', () => ws.close());
      });

    it('normalises in linear time: a megabyte of slashes takes milliseconds, not minutes', () => {
      const started = performance.now();
      expect(normalizeOrigin(`https://a.example${'/'.repeat(1_000_000)}x`)).toHaveLength(1_000_018);
      expect(normalizeOrigin(` HTTPS://App.Example.com${'/'.repeat(1_000_000)} `)).toBe('https://app.example.com');
      expect(performance.now() - started).toBeLessThan(500);
    });

    it('refuses an Origin over 512 characters with 403, and accepts an allowed one with trailing slashes', async () => {
      gw = await startGateway({ ALLOWED_ORIGINS: 'https://app.example.com' });
      const url = `${gw.wsUrl}?token=${await token('alice', 'browser')}`;
      expect(await upgrade(url, `https://app.example.com${'/'.repeat(12_000)}`)).toBe(403);
      expect(await upgrade(url, `https://app.example.com${'/'.repeat(12_000)}x`)).toBe(403);
      expect(await upgrade(url, 'https://App.Example.com///')).toBe(101);
    });
  });

  describe('gRPC and peer inputs', () => {
    it('refuses a PushMessage whose content is over MAX_CONTENT_BYTES with INVALID_ARGUMENT, storing nothing', async () => {
      gw = await startGateway({ MAX_CONTENT_BYTES: '1000' });
      const Service = loadGatewayService();
      const rpc = new Service(gw.grpcAddress, grpc.credentials.createInsecure());
      const push = (content: string): Promise<unknown> =>
        new Promise((resolve, reject) => {
          const request = { user_id: 'alice', device_id: '', msg_id: `p${content.length}`, sender_id: 'svc', content, sequence_number: 1, timestamp: 0 };
          (rpc as unknown as Record<string, (...a: unknown[]) => void>).PushMessage!.call(rpc, request, { deadline: Date.now() + 3000, credentials: bearerCallCredentials(GRPC_API_TOKEN) }, (err: unknown, res: unknown) => (err ? reject(err) : resolve(res)));
        });
      try {
        await expect(push('€'.repeat(334))).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'content is 1002 bytes; at most 1000 (MAX_CONTENT_BYTES)' });
        expect(await push('€'.repeat(333))).toMatchObject({ success: true, status: 'offline' });
        const alice = await connect('alice', 'phone');
        expect((await alice.next('message')).msg_id).toBe('p333');
        await alice.nothing('message');
      } finally {
        rpc.close();
      }
    });

    it('refuses a close code the peer protocol does not document, leaving the socket working', async () => {
      gw = await startGateway();
      const alice = await connect('alice', 'phone');
      const control = new ConnectionControl(gw.node.hub, gw.backends.registry);
      expect(() => control.closeLocal('alice', '', 'bye', 5)).toThrow(/close_code 5 is not one of 1012, 4010, 4011/);
      expect(() => control.closeLocal('alice', '', 'bye', 4003)).toThrow(RangeError);
      alice.send({ type: 'heartbeat' });
      await alice.next('heartbeat_response');
      expect(control.closeLocal('alice', '', 'bye', 4010)).toBe(1);
      expect((await alice.closed).code).toBe(4010);
    });
  });

  describe('admin paths', () => {
    it('answers a malformed percent-encoding with 400, not 503', async () => {
      gw = await startGateway();
      const res = await fetch(`${gw.httpUrl}/v1/groups/%E0%A4%A/members`, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error_code: 'INVALID_MESSAGE_FORMAT' });
    });
  });
});
