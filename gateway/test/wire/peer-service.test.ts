/**
 * The peer service a fleet node serves, over a real channel: a gateway in
 * fleet mode on the in-memory engines (every device is on it), called with
 * the generated client as another node would call it.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryBackends } from '../../src/backends.ts';
import { loadConfig } from '../../src/config/config.ts';
import { MAX_FORWARDED_FRAME_BYTES } from '../../src/fleet/delivery-check.ts';
import type { Delivery } from '../../src/proto/generated/im/gateway/v1/Delivery.ts';
import type { ForwardedEntry } from '../../src/proto/generated/im/gateway/v1/ForwardedEntry.ts';
import type { DeliveryResult__Output } from '../../src/proto/generated/im/gateway/v1/DeliveryResult.ts';
import type { IMGatewayPeerServiceClient } from '../../src/proto/generated/im/gateway/v1/IMGatewayPeerService.ts';
import { loadPeerService } from '../../src/proto/services.ts';
import { bearerCallCredentials } from '../../src/api/grpc-auth.ts';
import { GRPC_API_TOKEN, startGateway, TEST_SECRET, type RunningGateway } from '../support/gateway.ts';
import { OpenClients, type TestClient } from '../support/client.ts';

const message = (pos: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'message', msg_id: `m${pos}`, sender_id: 'alice', recipient_id: 'bob', recipient_type: 'user', content: `hello ${pos}`, sequence_number: pos, timestamp: 1706180400000, ...extra,
});

function entry(pos: number, fields: Partial<ForwardedEntry> = {}): ForwardedEntry {
  return { log_id: 'd:alice:bob', pos, stored_at: 1706180400000, sender_device: 'laptop', target_device: '', frame: Buffer.from(JSON.stringify(message(pos))), ...fields };
}

function delivery(pos: number, fields: Partial<ForwardedEntry> = {}, outer: Partial<Delivery> = {}): Delivery {
  return { user_id: 'bob', entry: entry(pos, fields), ...outer };
}

const FLEET_SECRET = 'peer-service-test-fleet-secret';
/** As another node of the fleet calls: with the fleet secret. */
const asPeer = (): grpc.CallOptions => ({ deadline: Date.now() + 3000, credentials: bearerCallCredentials(FLEET_SECRET) });

function forward(client: IMGatewayPeerServiceClient, deliveries: Delivery[]): Promise<DeliveryResult__Output[]> {
  return new Promise((resolve, reject) =>
    client.ForwardEntries({ deliveries }, asPeer(), (err, res) => (err ? reject(err) : resolve(res!.results))),
  );
}

function closeLocal(client: IMGatewayPeerServiceClient, userId: string, closeCode: number): Promise<number> {
  return new Promise((resolve, reject) =>
    client.CloseLocal({ user_id: userId, device_id: '', reason: 'test', close_code: closeCode }, asPeer(), (err, res) =>
      err ? reject(err) : resolve(res!.closed_count),
    ),
  );
}

/** What a socket received, byte for byte. */
function rawFrames(client: TestClient): Buffer[] {
  const frames: Buffer[] = [];
  client.ws.on('message', (data) => frames.push(data as Buffer));
  return frames;
}

const bad = (fields: Partial<ForwardedEntry>, outer: Partial<Delivery> = {}) => ({ fields, outer });
const frameOf = (value: unknown): Partial<ForwardedEntry> => ({ frame: Buffer.from(JSON.stringify(value)) });

/** Each refused with INVALID_ARGUMENT naming what is wrong. */
const BAD_DELIVERIES: Array<[string, { fields: Partial<ForwardedEntry>; outer: Partial<Delivery> }, RegExp]> = [
  ['no user_id', bad({}, { user_id: '' }), /user_id is required/],
  ['a user_id that is not an id', bad({}, { user_id: 'bob smith' }), /user_id must be/],
  ['no entry', bad({}, { entry: null }), /entry is required/],
  ['an unknown log kind', bad({ log_id: 'x:bob' }), /log_id must be/],
  ['a private log with its users out of order', bad({ log_id: 'd:bob:alice' }), /log_id must be/],
  ['a private log with one user', bad({ log_id: 'd:alice' }), /log_id must be/],
  ['a group log without an id', bad({ log_id: 'g:' }), /log_id must be/],
  ['pos 0', bad({ pos: 0 }), /pos must be a positive integer/],
  ['a negative pos', bad({ pos: -4 }), /pos must be a positive integer/],
  ['a pos past the safe integers', bad({ pos: '9007199254740993' }), /pos must be a positive integer/],
  ['a negative stored_at', bad({ stored_at: -1 }), /stored_at/],
  ['a sender_device that is not an id', bad({ sender_device: 'a b' }), /sender_device must be/],
  ['a target_device that is not an id', bad({ target_device: 'ü' }), /target_device must be/],
  ['a frame that is not UTF-8', bad({ frame: Buffer.from([0x7b, 0xff, 0x7d]) }), /not UTF-8/],
  ['a frame that is not JSON', bad({ frame: Buffer.from('{"type":') }), /not valid JSON/],
  ['a frame that is not an object', bad(frameOf([1, 2])), /JSON object/],
  ['a frame of a type logs do not hold', bad(frameOf({ type: 'auth_response', success: true })), /field "type" must be/],
  ['a message without content', bad(frameOf({ ...message(50), content: undefined })), /content/],
  ['a message whose msg_id is not an id', bad(frameOf(message(50, { msg_id: 'a b' }))), /msg_id/],
  ['a message without its sequence_number', bad(frameOf(message(50, { sequence_number: 'x' }))), /"sequence_number" must be an integer/],
  ['a message whose sequence_number is not its pos', bad(frameOf(message(49))), /sequence_number must equal pos/],
  ['a read_receipt without reader_id', bad({ log_id: 'n:bob', ...frameOf({ type: 'read_receipt', msg_id: 'm1', read_at: 1, timestamp: 1 }) }), /reader_id/],
  ['a membership_change of an unknown kind', bad({ log_id: 'm:g1', ...frameOf({ type: 'membership_change', group_id: 'g1', change_type: 'kick', user_id: 'bob', timestamp: 1 }) }), /change_type/],
  ['a frame past the size cap', bad(frameOf(message(50, { content: 'x'.repeat(MAX_FORWARDED_FRAME_BYTES) }))), /exceeds/],
];

describe('peer service of a fleet node', () => {
  let gw: RunningGateway;
  let peer: IMGatewayPeerServiceClient;
  const clients = new OpenClients();

  beforeAll(async () => {
    const env = { FLEET_SECRET, NODE_ID: 'test-node' };
    const config = loadConfig({ JWT_SECRET: TEST_SECRET, GRPC_API_TOKENS: GRPC_API_TOKEN, ...env });
    gw = await startGateway(env, { ...memoryBackends(config), fleet: true });
    const Service = loadPeerService();
    peer = new Service(gw.grpcAddress, grpc.credentials.createInsecure());
  });
  afterEach(() => clients.closeAll());
  afterAll(async () => {
    peer.close();
    await gw.stop();
  });

  it('writes each forwarded frame to the sockets as the bytes it came as, and counts the devices', async () => {
    const phone = await clients.connect(gw.wsUrl, 'bob', 'phone');
    const raw = rawFrames(phone);
    // Spaced unlike JSON.stringify: re-encoding would show.
    const frame = Buffer.from(JSON.stringify(message(1), null, 1));
    const results = await forward(peer, [delivery(1, { frame }), delivery(2)]);
    expect(results).toEqual([{ delivered: 1, code: 0, details: '' }, { delivered: 1, code: 0, details: '' }]);
    expect(await phone.next('message')).toEqual(message(1));
    expect(await phone.next('message')).toEqual(message(2));
    expect(raw[0]!.equals(frame)).toBe(true);
  });

  it('writes nothing to the sending device or to devices other than the target, but moves them on in the log', async () => {
    const [phone, laptop] = [await clients.connect(gw.wsUrl, 'dave', 'phone'), await clients.connect(gw.wsUrl, 'dave', 'laptop')];
    const toDave = message(1, { recipient_id: 'dave' });
    // dave sent the second from his laptop: his other devices get a copy, the laptop does not.
    const fromDave = message(2, { sender_id: 'dave', recipient_id: 'alice' });
    const results = await forward(peer, [
      delivery(1, { log_id: 'd:alice:dave', sender_device: '', frame: Buffer.from(JSON.stringify(toDave)) }, { user_id: 'dave' }),
      delivery(2, { log_id: 'd:alice:dave', frame: Buffer.from(JSON.stringify(fromDave)) }, { user_id: 'dave' }),
      delivery(1, { log_id: 'p:dave', sender_device: '', target_device: 'phone', frame: Buffer.from(JSON.stringify(message(77))) }, { user_id: 'dave' }),
      delivery(3, { log_id: 'd:alice:dave', sender_device: '', frame: Buffer.from(JSON.stringify(message(3, { recipient_id: 'dave' }))) }, { user_id: 'dave' }),
    ]);
    expect(results.map((r) => r.delivered)).toEqual([2, 1, 1, 2]);
    expect((await laptop.next('message')).sequence_number).toBe(1);
    // Its own message moved the laptop on: the next one follows without a gap.
    expect((await laptop.next('message')).sequence_number).toBe(3);
    // Each log in order; the two logs need not interleave as sent.
    const got = [await phone.next('message'), await phone.next('message'), await phone.next('message'), await phone.next('message')];
    expect(got.filter((f) => f.sender_id === 'dave' || f.recipient_id === 'dave').map((f) => f.sequence_number)).toEqual([1, 2, 3]);
    expect(got.filter((f) => f.recipient_id === 'bob').map((f) => f.sequence_number)).toEqual([77]);
    await phone.nothing('message');
    await laptop.nothing('message');
  });

  it.each(BAD_DELIVERIES)('refuses a delivery with %s, and delivers the rest of the batch', async (what, { fields, outer }, problem) => {
    // A user of its own per case: no socket of an earlier case still closing counts.
    const user = `u-${BAD_DELIVERIES.findIndex(([w]) => w === what)}`;
    const phone = await clients.connect(gw.wsUrl, user, 'phone');
    const results = await forward(peer, [delivery(1, {}, { user_id: user }), delivery(50, fields, { user_id: user, ...outer }), delivery(2, {}, { user_id: user })]);
    expect(results[0]).toEqual({ delivered: 1, code: 0, details: '' });
    expect(results[1]).toMatchObject({ delivered: 0, code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(problem) });
    expect(results[2]).toEqual({ delivered: 1, code: 0, details: '' });
    expect((await phone.next('message')).sequence_number).toBe(1);
    expect((await phone.next('message')).sequence_number).toBe(2);
    await phone.nothing('message', 50);
  });

  it('closes a user’s sockets on CloseLocal with the close code asked for, and refuses another close code', async () => {
    const phone = await clients.connect(gw.wsUrl, 'carol', 'phone');
    await expect(closeLocal(peer, 'carol', 1000)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: expect.stringMatching(/close_code/) });
    await expect(closeLocal(peer, '', 1012)).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT, details: 'user_id is required' });
    expect(await closeLocal(peer, 'carol', 1012)).toBe(1);
    expect((await phone.closed).code).toBe(1012);
  });
});

describe('a node alone', () => {
  it('does not serve the peer service', async () => {
    const gw = await startGateway();
    const peer = new (loadPeerService())(gw.grpcAddress, grpc.credentials.createInsecure());
    try {
      await expect(forward(peer, [delivery(1)])).rejects.toMatchObject({ code: grpc.status.UNIMPLEMENTED });
    } finally {
      peer.close();
      await gw.stop();
    }
  });
});
