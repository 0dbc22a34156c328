// The AsyncAPI document against the wire: a real gateway, real sockets with
// each of the three token forms, traffic that makes every frame type in both
// directions, and every frame checked against the schema of its type.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { type ClientOptions } from 'ws';
import { addMember, removeMember } from '../../../../gateway/test/support/admin.ts';
import { TestClient, OpenClients, type Frame } from '../../../../gateway/test/support/client.ts';
import { startGateway, token, type RunningGateway } from '../../../../gateway/test/support/gateway.ts';
import { SUBPROTOCOL } from '../../../../gateway/src/auth/token-source.ts';
import { ASYNCAPI_FILE, frameValidators, loadYaml, problems, type Direction, type FrameKey } from '../support/documents.ts';

interface Captured {
  direction: Direction;
  frame: Frame;
}

/** Every frame a test sends or receives, in order, and the close codes the gateway sent. */
class Wire {
  readonly frames: Captured[] = [];
  readonly closeCodes: number[] = [];
  private readonly clients = new OpenClients();

  /** Opens a socket and records what it receives from the first frame on. */
  open(url: string, options: ConstructorParameters<typeof TestClient>[1] = {}, protocols?: string[]): TestClient {
    const client = this.clients.add(new TestClient(url, options, protocols));
    client.ws.on('message', (data) => this.frames.push({ direction: 'server', frame: JSON.parse(data.toString()) as Frame }));
    return client;
  }

  async connect(url: string, options: ConstructorParameters<typeof TestClient>[1] = {}, protocols?: string[]): Promise<TestClient> {
    const client = this.open(url, options, protocols);
    await client.next('auth_response');
    return client;
  }

  /** Sends a frame meant to be valid: it is checked against the document with the rest. */
  send(client: TestClient, frame: Frame): void {
    this.frames.push({ direction: 'client', frame });
    client.send(frame);
  }

  /** The close code of a socket the gateway refused or closed. */
  async closedBy(client: TestClient): Promise<number> {
    const { code } = await client.closed;
    this.closeCodes.push(code);
    return code;
  }

  closeAll(): Promise<void> {
    return this.clients.closeAll();
  }
}

/** The HTTP status of an upgrade the gateway refuses before it becomes a socket. */
function upgradeStatus(url: string, options: ClientOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on('unexpected-response', (req, res) => {
      req.destroy();
      resolve(res.statusCode ?? 0);
    });
    ws.on('open', () => {
      ws.close();
      reject(new Error('the upgrade was accepted'));
    });
    ws.on('error', () => {});
  });
}

const bearer = async (user: string, device: string): Promise<{ headers: Record<string, string> }> => ({
  headers: { Authorization: `Bearer ${await token(user, device)}` },
});

const sendMsg = (msgId: string, recipientId: string, extra: Record<string, unknown> = {}): Frame => ({
  type: 'send_msg',
  msg_id: msgId,
  recipient_id: recipientId,
  recipient_type: 'user',
  content: `content of ${msgId}`,
  timestamp: Date.now(),
  ...extra,
});

/** Metadata nested `levels` deep: `{a: {a: ... {}}}`. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

describe('the AsyncAPI document against a real gateway', () => {
  const validators = frameValidators();
  const documented = [...validators.keys()].sort();
  const channel = (loadYaml(ASYNCAPI_FILE).channels as { ws: { 'x-close-codes': Array<{ code: number }>; 'x-upgrade-refusals': Array<{ status: number }> } }).ws;
  const upgradeStatuses: number[] = [];
  const wire = new Wire();
  /** Frames the document must refuse, each with the error code the gateway answered it with. */
  const refused: Array<{ frame: Frame; code: unknown }> = [];
  let gw: RunningGateway;

  beforeAll(async () => {
    gw = await startGateway({ ALLOWED_ORIGINS: 'https://chat.example' });
    // The three token forms: header, subprotocol entry, query.
    const alice = await wire.connect(gw.wsUrl, await bearer('alice', 'phone'));
    const bob = await wire.connect(gw.wsUrl, {}, [SUBPROTOCOL, `bearer.${await token('bob', 'phone')}`]);
    expect(bob.ws.protocol).toBe(SUBPROTOCOL);
    const carol = await wire.connect(`${gw.wsUrl}?token=${encodeURIComponent(await token('carol', 'laptop'))}`);

    wire.send(alice, { type: 'heartbeat', timestamp: Date.now() });
    await alice.next('heartbeat_response');
    wire.send(bob, { type: 'heartbeat' });
    await bob.next('heartbeat_response');

    // A private message with metadata, acked received then read: the sender gets a read receipt.
    const first = sendMsg('doc-m1', 'bob', { metadata: { reply_to: 'doc-m0', mentions: ['bob'], attachments: [{ size: 1 }] } });
    wire.send(alice, first);
    const ack = await alice.next('ack', (f) => f.msg_id === 'doc-m1');
    expect(ack.status).toBe('delivered');
    await bob.next('message', (f) => f.msg_id === 'doc-m1');
    wire.send(bob, { type: 'ack', msg_id: 'doc-m1', status: 'received', timestamp: Date.now() });
    wire.send(bob, { type: 'ack', msg_id: 'doc-m1', status: 'read', timestamp: Date.now() });
    expect(await alice.next('read_receipt')).toMatchObject({ msg_id: 'doc-m1', reader_id: 'bob' });

    // The same msg_id again: DUPLICATE_MESSAGE with the original's sequence number.
    wire.send(alice, first);
    const duplicate = await alice.next('error', (f) => f.msg_id === 'doc-m1');
    expect(duplicate).toMatchObject({ error_code: 'DUPLICATE_MESSAGE', sequence_number: ack.sequence_number });

    wire.send(alice, sendMsg('doc-m2', 'dave'));
    expect(await alice.next('ack', (f) => f.msg_id === 'doc-m2')).toMatchObject({ status: 'offline' });

    // Membership changes through the admin API, and a group message between them.
    expect((await addMember(gw.httpUrl, 'team', 'alice')).status).toBe(201);
    expect((await addMember(gw.httpUrl, 'team', 'bob')).status).toBe(201);
    await bob.next('membership_change', (f) => f.user_id === 'bob' && f.change_type === 'join');
    wire.send(alice, sendMsg('doc-g1', 'team', { recipient_type: 'group' }));
    expect(await alice.next('ack', (f) => f.msg_id === 'doc-g1')).toMatchObject({ status: 'delivered' });
    expect(await bob.next('message', (f) => f.msg_id === 'doc-g1')).toMatchObject({ recipient_type: 'group', recipient_id: 'team' });
    expect((await removeMember(gw.httpUrl, 'team', 'bob')).status).toBe(200);
    await alice.next('membership_change', (f) => f.user_id === 'bob' && f.change_type === 'leave');
    await bob.next('membership_change', (f) => f.user_id === 'bob' && f.change_type === 'leave');

    // refresh_token: accepted for the same user and device, refused for another.
    wire.send(carol, { type: 'refresh_token', token: await token('carol', 'laptop', { expiresInSeconds: 7200 }) });
    await carol.next('refresh_token_response');
    wire.send(carol, { type: 'refresh_token', token: await token('alice', 'phone') });
    expect(await carol.next('error')).toMatchObject({ error_code: 'AUTH_FAILED' });

    // Frames the gateway refuses; sent raw, one at a time, each answered by an error frame.
    for (const frame of [
      sendMsg('bad id!', 'bob'),
      { type: 'send_msg', msg_id: 'doc-x1', recipient_id: 'bob', content: 'no recipient_type' },
      sendMsg('doc-x2', 'bob', { recipient_type: 'channel' }),
      sendMsg('doc-x3', 'bob', { content: 'é'.repeat(5121) }),
      sendMsg('doc-x4', 'bob', { metadata: nested(9) }),
      sendMsg('doc-x5', 'bob', { metadata: { list: Array.from({ length: 300 }, (_, i) => i) } }),
      sendMsg('doc-x6', 'bob', { timestamp: 1.5 }),
      { type: 'ack', msg_id: 'doc-m1', status: 'seen' },
      { type: 'heartbeat', timestamp: -1 },
      { type: 'refresh_token', token: '' },
      { type: 'refresh_token', token: 'x'.repeat(8193) },
      { type: 'typing' },
    ] as Frame[]) {
      alice.send(frame);
      refused.push({ frame, code: (await alice.next('error')).error_code });
    }

    // Refused sockets still get an error frame before the close.
    const forged = wire.open(gw.wsUrl, { headers: { Authorization: `Bearer ${await token('eve', 'x', { secret: 'w'.repeat(40) })}` } });
    expect(await wire.closedBy(forged)).toBe(4004);
    expect(await wire.closedBy(wire.open(gw.wsUrl))).toBe(4001);

    // Refusals that stay plain HTTP, and a drain that closes open sockets with 1012.
    upgradeStatuses.push(await upgradeStatus(gw.wsUrl, { ...(await bearer('alice', 'tablet')), origin: 'https://elsewhere.example' }));
    const drained = gw.node.drain(5000);
    expect(await wire.closedBy(alice)).toBe(1012);
    upgradeStatuses.push(await upgradeStatus(gw.wsUrl, await bearer('alice', 'tablet')));
    await drained;
  });

  afterAll(async () => {
    await wire.closeAll();
    await gw?.stop();
  });

  it('captured frames of every type in both directions', () => {
    expect(wire.frames.length).toBeGreaterThan(20);
  });

  it('documents every frame type seen on the wire, and every documented one was seen', () => {
    const seen = [...new Set(wire.frames.map((c): FrameKey => `${c.direction}:${c.frame.type}`))].sort();
    expect(seen).toEqual(documented);
  });

  it('validates every captured frame against the schema of its direction and type', () => {
    const failures: string[] = [];
    for (const { direction, frame } of wire.frames) {
      const validate = validators.get(`${direction}:${frame.type}`);
      if (validate === undefined) failures.push(`${direction} frame of undocumented type ${frame.type}`);
      else if (!validate(frame)) failures.push(`${direction} ${JSON.stringify(frame).slice(0, 200)}: ${problems(validate)}`);
    }
    expect(failures).toEqual([]);
  });

  it('refuses, like the gateway, each frame the gateway answered with an error', () => {
    expect(refused.map((r) => r.code)).toEqual([
      ...Array(3).fill('INVALID_MESSAGE_FORMAT'),
      'MESSAGE_TOO_LARGE',
      ...Array(8).fill('INVALID_MESSAGE_FORMAT'),
    ]);
    for (const { frame } of refused) {
      const validate = validators.get(`client:${String(frame.type)}`);
      expect(validate?.(frame) ?? false, JSON.stringify(frame).slice(0, 100)).toBe(false);
    }
  });

  it('lists the close codes the gateway sent', () => {
    expect(wire.closeCodes).toEqual([4004, 4001, 1012]);
    for (const code of wire.closeCodes) expect(channel['x-close-codes'].map((c) => c.code)).toContain(code);
  });

  it('lists the HTTP statuses of the upgrades the gateway refused', () => {
    expect(upgradeStatuses).toEqual(channel['x-upgrade-refusals'].map((r) => r.status));
  });
});
