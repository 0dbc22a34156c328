import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { GRPC_API_TOKEN, startGateway, startGatewayHoldingRegistrations, token, type HeldRegistrations, type RunningGateway } from '../support/gateway.ts';
import { OpenClients, TestClient } from '../support/client.ts';
import { memoryBackends } from '../../src/backends.ts';
import { loadConfig } from '../../src/config/config.ts';
import { MemoryRegistry } from '../../src/registry/memory-registry.ts';
import type { DeviceRecord } from '../../src/registry/registry.ts';

describe('session behaviour', () => {
  let gw: RunningGateway | undefined;
  const clients = new OpenClients();
  const connect = (user: string, device: string): Promise<TestClient> => clients.connect(gw!.wsUrl, user, device);

  afterEach(async () => {
    await clients.closeAll();
    await gw?.stop();
  });

  it('answers INVALID_MESSAGE_FORMAT naming the problem, and keeps the socket open', async () => {
    gw = await startGateway();
    const alice = await connect('alice', 'phone');
    const cases: Array<[string, RegExp]> = [
      ['{not json', /not valid JSON/],
      ['[1,2]', /JSON object/],
      ['{"type":"launch_rockets"}', /unknown type "launch_rockets"/],
      ['{"timestamp":1}', /missing field "type"/],
      ['{"type":"send_msg","recipient_id":"bob","recipient_type":"user","content":"x"}', /missing field "msg_id"/],
      ['{"type":"send_msg","msg_id":"m1","recipient_id":"bob","recipient_type":"user","content":5}', /"content" must be a string/],
      ['{"type":"send_msg","msg_id":"m1","recipient_id":"bob","recipient_type":"channel","content":"x"}', /"recipient_type" must be "user" or "group"/],
      ['{"type":"send_msg","msg_id":"m1","recipient_id":"b o b","recipient_type":"user","content":"x"}', /"recipient_id" must be/],
      ['{"type":"ack","msg_id":"m1","status":"eaten"}', /"status" must be "received" or "read"/],
      ['{"type":"heartbeat","timestamp":"soon"}', /"timestamp" must be a number/],
    ];
    for (const [text, problem] of cases) {
      alice.ws.send(text);
      const err = await alice.next('error');
      expect(err.error_code).toBe('INVALID_MESSAGE_FORMAT');
      expect(err.error_message).toMatch(problem);
    }
    alice.send({ type: 'heartbeat', timestamp: Date.now() });
    expect(await alice.next('heartbeat_response')).toHaveProperty('timestamp');
  });

  it('handles frames a client sends the moment the socket opens, before auth_response arrives', async () => {
    // A registry with network latency (as etcd has) leaves a gap between the handshake and setup.
    class SlowRegistry extends MemoryRegistry {
      override async devices(userId: string): Promise<DeviceRecord[]> {
        await new Promise((r) => setTimeout(r, 50));
        return super.devices(userId);
      }
    }
    const config = loadConfig({ JWT_SECRET: 'x'.repeat(32), GRPC_API_TOKENS: GRPC_API_TOKEN });
    gw = await startGateway({}, { ...memoryBackends(config), registry: new SlowRegistry() });
    const bob = await connect('bob', 'phone');
    const alice = new TestClient(gw.wsUrl, { headers: { Authorization: `Bearer ${await token('alice', 'phone')}` } });
    clients.add(alice);
    alice.ws.on('open', () => alice.sendMessage('bob', 'sent on open', 'user', { msg_id: 'early-1' }));
    await alice.next('auth_response');
    expect(await alice.next('ack')).toMatchObject({ msg_id: 'early-1', status: 'delivered' });
    expect(await bob.next('message')).toMatchObject({ msg_id: 'early-1' });
  });

  it('names the msg_id of a malformed send_msg so the client can match the error', async () => {
    gw = await startGateway();
    const alice = await connect('alice', 'phone');
    alice.send({ type: 'send_msg', msg_id: 'm-42', recipient_type: 'user', content: 'x' });
    expect(await alice.next('error')).toMatchObject({ error_code: 'INVALID_MESSAGE_FORMAT', msg_id: 'm-42' });
  });

  it('closes a silent socket with HEARTBEAT_TIMEOUT and 4007, and keeps one that heartbeats', async () => {
    gw = await startGateway({ HEARTBEAT_TIMEOUT_MS: '400' });
    const silent = await connect('alice', 'phone');
    const chatty = await connect('bob', 'phone');
    const beat = setInterval(() => chatty.send({ type: 'heartbeat', timestamp: Date.now() }), 100);
    try {
      expect(await silent.next('error', undefined, 2000)).toMatchObject({ error_code: 'HEARTBEAT_TIMEOUT' });
      expect((await silent.closed).code).toBe(4007);
      await new Promise((r) => setTimeout(r, 400));
      expect(chatty.ws.readyState).toBe(1);
    } finally {
      clearInterval(beat);
    }
  });

  it('replaces the socket of a device that connects again (4010), losing nothing pending', async () => {
    gw = await startGateway();
    const alice = await connect('alice', 'phone');
    const old = await connect('bob', 'phone');
    const id = alice.sendMessage('bob', 'pending');
    await old.next('message');
    const fresh = await connect('bob', 'phone');
    expect(await old.closed).toMatchObject({ code: 4010 });
    expect(await fresh.next('message')).toMatchObject({ msg_id: id, content: 'pending' });
    const later = alice.sendMessage('bob', 'after replacement');
    expect(await fresh.next('message', (f) => f.msg_id === later)).toBeTruthy();
    expect(gw.node.hub.size).toBe(2);
  });

  it('leaves no registration behind for a socket that closes while it is being registered', async () => {
    let registrations: HeldRegistrations;
    ({ gw, registrations } = await startGatewayHoldingRegistrations());
    const registry = gw.backends.registry;
    const bob = clients.add(new TestClient(gw.wsUrl, { headers: { Authorization: `Bearer ${await token('bob', 'phone')}` } }));
    await registrations.underWay();
    bob.ws.terminate();
    await bob.closed;
    while (gw.node.hub.size > 0) await sleep(5);
    registrations.release();
    // The registration completes after the close, and is taken back at once.
    while (registrations.completed === 0) await sleep(5);
    for (let i = 0; i < 100 && registry.routes('bob').length > 0; i++) await sleep(5);
    expect(await registry.devices('bob')).toEqual([]);
    expect(registry.routes('bob')).toEqual([]);
  });

  it('holds live messages behind the replay so each conversation arrives in order', async () => {
    gw = await startGateway({ REPLAY_BATCH: '5' });
    const alice = await connect('alice', 'phone');
    for (let i = 0; i < 40; i++) alice.sendMessage('bob', `n${i}`);
    for (let i = 0; i < 40; i++) await alice.next('ack');
    const bob = new TestClient(gw.wsUrl, { headers: { Authorization: `Bearer ${await token('bob', 'phone')}` } });
    clients.add(bob);
    await bob.next('auth_response');
    // Live messages race the replay of the first forty.
    for (let i = 40; i < 60; i++) alice.sendMessage('bob', `n${i}`);
    const seqs: number[] = [];
    for (let i = 0; i < 60; i++) seqs.push((await bob.next('message')).sequence_number as number);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(60);
  });
});
