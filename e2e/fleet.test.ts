/**
 * Three gateway processes on real Redis, etcd and Kafka behave as one
 * gateway: messages cross nodes, groups span them, and nothing acknowledged
 * is lost when a node is killed or a dependency restarts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { Redis } from 'ioredis';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetClient, FleetClients } from './fleet/fleet-client.ts';
import { addMember, eventually, startFleet, type Fleet } from './fleet/fleet.ts';
import { FLEET_ADMIN_TOKEN, FLEET_GRPC_API_TOKEN, GatewayProcess } from './fleet/gateway-process.ts';
import { DEFAULT_ETCD_PREFIX, DEFAULT_GROUP_TOPIC } from '../gateway/src/config/defaults.ts';
import { loadGatewayService } from '../gateway/src/proto/services.ts';
import { bearerCallCredentials } from '../gateway/src/api/grpc-auth.ts';

const GatewayService = loadGatewayService();

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function grpcCall(node: GatewayProcess, method: string, request: object): Promise<any> {
  const client = new GatewayService(node.grpcAddress, grpc.credentials.createInsecure());
  const options: grpc.CallOptions = { credentials: bearerCallCredentials(FLEET_GRPC_API_TOKEN) };
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, Function>)[method]!.call(client, request, options, (err: Error | null, res: unknown) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    });
  });
}

describe('a fleet of three gateways', () => {
  let fleet: Fleet;
  let etcd: Etcd3;
  const extraNodes: GatewayProcess[] = [];
  const clients = new FleetClients(() => fleet.nodes.map((n) => n.wsUrl));
  const client = (user: string, device: string, i: number, pool?: () => string[]): Promise<FleetClient> => clients.connect(user, device, i, pool);

  beforeAll(async () => {
    fleet = await startFleet(3, { MAX_DEVICES_PER_USER: '3', RATE_LIMIT_MESSAGES: '100000' });
    etcd = new Etcd3({ hosts: fleet.etcd.endpoints });
  }, 240_000);

  afterAll(async () => {
    await clients.closeAll();
    await Promise.allSettled(extraNodes.map((n) => n.kill()));
    etcd?.close();
    await fleet?.stop();
  }, 60_000);

  it('delivers private messages across nodes both ways, with the same sequence numbers everywhere', async () => {
    const alice = await client('p-alice', 'phone', 0);
    const bob = await client('p-bob', 'phone', 1);
    const sent: Array<{ msgId: string; seq: number; to: FleetClient }> = [];
    for (let i = 0; i < 6; i++) {
      const [from, to] = i % 2 === 0 ? [alice, bob] : [bob, alice];
      sent.push({ ...(await from.send(to.userId, `hello ${i}`)), to });
    }
    for (const { msgId, seq, to } of sent) {
      await to.waitFor([msgId]);
      expect(to.received.get(msgId)).toMatchObject({ sequence_number: seq });
    }
    const seqs = sent.map((s) => s.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it('fans a group message out over three nodes: one Kafka record, every member device once', async () => {
    const members = ['g-u0', 'g-u1', 'g-u2', 'g-u3', 'g-u4', 'g-u5'];
    for (const m of members) await addMember(fleet.nodes[0]!, 'g-team', m);
    const devices = await Promise.all(members.map((m, i) => client(m, 'phone', i % 3)));
    // One member with a second device on another node.
    devices.push(await client('g-u0', 'laptop', 2));
    const admin = new Kafka({ clientId: 'fleet-test', brokers: fleet.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const records = async (): Promise<number> =>
      (await admin.fetchTopicOffsets(DEFAULT_GROUP_TOPIC)).reduce((sum, p) => sum + Number(p.high), 0);
    const before = await records();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await devices[1]!.send('g-team', `to all ${i}`, 'group')).msgId);
    // The ack waits for Redis only; the record follows it.
    const receivers = devices.filter((d) => d !== devices[1]);
    for (const d of receivers) await d.waitFor(ids);
    expect((await records()) - before).toBe(3);
    await admin.disconnect();
    // Nothing arrives twice: every device's received map has each id once, and no extra copies were counted.
    for (const d of receivers) expect(d.duplicates).toBe(0);
  });

  it('announces a membership change with one Kafka record, to the members on every node and the joiner', async () => {
    const members = ['j-u0', 'j-u1', 'j-u2'];
    for (const m of members) await addMember(fleet.nodes[0]!, 'j-team', m);
    const devices = await Promise.all(members.map((m, i) => client(m, 'phone', i)));
    const joiner = await client('j-new', 'phone', 2);
    const admin = new Kafka({ clientId: 'fleet-test', brokers: fleet.kafka.brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    const records = async (): Promise<number> =>
      (await admin.fetchTopicOffsets(DEFAULT_GROUP_TOPIC)).reduce((sum, p) => sum + Number(p.high), 0);
    const before = await records();
    await addMember(fleet.nodes[1]!, 'j-team', 'j-new');
    const seen = (c: FleetClient, changeType: string, user: string): number =>
      c.others.filter((f) => f.type === 'membership_change' && f.change_type === changeType && f.user_id === user).length;
    await eventually('every member and the joiner got the join', () => [...devices, joiner].every((c) => seen(c, 'join', 'j-new') >= 1));
    expect((await records()) - before).toBe(1);
    await admin.disconnect();

    const res = await fetch(`${fleet.nodes[2]!.httpUrl}/v1/groups/j-team/members/j-u1`, {
      method: 'DELETE',
      headers: { Authorization: `Bearer ${FLEET_ADMIN_TOKEN}` },
    });
    expect(res.status).toBe(200);
    // The members who remain through the group; the leaver, on another node, through its own notifications.
    await eventually('the members and the leaver got the leave', () => [...devices, joiner].every((c) => seen(c, 'leave', 'j-u1') >= 1));
    await sleep(300);
    for (const c of [...devices, joiner]) {
      expect(seen(c, 'join', 'j-new')).toBe(1);
      expect(seen(c, 'leave', 'j-u1')).toBe(1);
    }
    // Only the leaver's notification log was written to.
    const redis = new Redis(fleet.redis.url);
    try {
      expect(await redis.mget([...members, 'j-new'].map((u) => `im:seq:n:${u}`))).toEqual([null, '1', null, null]);
      expect(await redis.get('im:seq:m:j-team')).toBe('5');
    } finally {
      redis.disconnect();
    }
  });

  it('syncs a user’s devices across nodes and holds the device limit across the fleet', async () => {
    const d1 = await client('m-carol', 'd1', 0);
    const d2 = await client('m-carol', 'd2', 1);
    const d3 = await client('m-carol', 'd3', 2);
    const dave = await client('m-dave', 'phone', 1);
    const { msgId } = await d1.send('m-dave', 'from my phone');
    await Promise.all([d2.waitFor([msgId]), d3.waitFor([msgId]), dave.waitFor([msgId])]);
    expect(d1.received.has(msgId)).toBe(false);
    const fourth = new FleetClient('m-carol', 'd4', () => [fleet.nodes[0]!.wsUrl]);
    await expect(fourth.connect()).rejects.toThrow(/4005/);
    await fourth.close();
  });

  it('replaces a device’s socket on its old node when it reconnects to another', async () => {
    const first = await client('r-ivy', 'phone', 0);
    const again = await client('r-ivy', 'phone', 1);
    await eventually('the old socket was closed as replaced', () => first.closeCodes.includes(4010));
    await first.close();
    const status = await grpcCall(fleet.nodes[2]!, 'GetConnectionStatus', { user_id: 'r-ivy', device_id: '' });
    expect(status.devices).toMatchObject([{ device_id: 'phone', online: true, gateway_node: 'gw-1' }]);
    expect(again.connected).toBe(true);
  });

  it('answers GetConnectionStatus and CloseConnection from any node', async () => {
    const laptop = await client('c-jack', 'laptop', 0);
    const phone = await client('c-jack', 'phone', 1);
    const status = await grpcCall(fleet.nodes[2]!, 'GetConnectionStatus', { user_id: 'c-jack', device_id: '' });
    expect(status.online).toBe(true);
    expect(status.devices.map((d: { device_id: string; gateway_node: string }) => `${d.device_id}@${d.gateway_node}`).sort()).toEqual([
      'laptop@gw-0',
      'phone@gw-1',
    ]);
    const closed = await grpcCall(fleet.nodes[2]!, 'CloseConnection', { user_id: 'c-jack', device_id: '', reason: 'account suspended' });
    expect(closed).toMatchObject({ success: true, closed_count: 2 });
    await eventually('both devices saw 4011', () => laptop.closeCodes.includes(4011) && phone.closeCodes.includes(4011));
    await Promise.all([laptop.close(), phone.close()]);
  });

  it('limits a user’s message rate across nodes', async () => {
    const env = {
      RATE_LIMIT_MESSAGES: '4',
      ETCD_PREFIX: '/rate-test',
      REDIS_KEY_PREFIX: 'rate:',
      KAFKA_MESSAGES_TOPIC: 'rate-test.messages',
      KAFKA_GROUP_TOPIC: 'rate-test.group-messages',
    };
    const pair = [new GatewayProcess('rate-0', fleet.backends, env), new GatewayProcess('rate-1', fleet.backends, env)];
    extraNodes.push(...pair);
    await Promise.all(pair.map((n) => n.start()));
    const pool = (): string[] => pair.map((n) => n.wsUrl);
    const a = await client('r-erin', 'a', 0, pool);
    const b = await client('r-erin', 'b', 1, pool);
    await a.send('r-frank', '1');
    await b.send('r-frank', '2');
    await a.send('r-frank', '3');
    await b.send('r-frank', '4');
    await expect(a.send('r-frank', '5')).rejects.toThrow(/RATE_LIMIT_EXCEEDED/);
    await expect(b.send('r-frank', '6')).rejects.toThrow(/RATE_LIMIT_EXCEEDED/);
  });

  it('delivers everything, in order, to a user who was offline on one node and comes back on another', async () => {
    const henry = await client('o-henry', 'phone', 0);
    await henry.close();
    const gina = await client('o-gina', 'phone', 1);
    const sent: Array<{ msgId: string; seq: number }> = [];
    for (let i = 0; i < 10; i++) sent.push(await gina.send('o-henry', `while you were out ${i}`));
    const back = await client('o-henry', 'phone', 2);
    await back.waitFor(sent.map((s) => s.msgId));
    expect([...back.received.values()].map((f) => f.sequence_number)).toEqual(sent.map((s) => s.seq));
  });

  it('loses nothing acknowledged when a node is killed while messages flow to its users', async () => {
    const victim = fleet.nodes[2]!;
    const receivers = await Promise.all(['k-r0', 'k-r1', 'k-r2', 'k-r3'].map((u) => client(u, 'phone', 2)));
    const senders = await Promise.all(['k-s0', 'k-s1'].map((u, i) => client(u, 'phone', i)));
    const acked = new Map<FleetClient, string[]>(receivers.map((r) => [r, []]));
    let flowing = true;
    const traffic = senders.map(async (sender, s) => {
      for (let i = 0; flowing; i++) {
        const to = receivers[(i + s) % receivers.length]!;
        acked.get(to)!.push((await sender.send(to.userId, `m${s}-${i}`)).msgId);
      }
    });
    await sleep(500);
    const alive = fleet.nodes.filter((n) => n !== victim);
    const pool = (): string[] => alive.map((n) => n.wsUrl);
    // The receivers reconnect to the nodes that are left, as a load balancer would send them.
    for (const r of receivers) r.urls = pool;
    await victim.kill();
    await sleep(1500);
    flowing = false;
    await Promise.all(traffic);
    for (const r of receivers) await r.waitFor(acked.get(r)!, 30_000);
    const total = [...acked.values()].reduce((n, ids) => n + ids.length, 0);
    expect(total).toBeGreaterThan(10);
    // The dead node's lease expired, and its entries with it.
    await eventually('the killed node’s registry entries are gone', async () => {
      const values = await etcd.getAll().prefix(`${DEFAULT_ETCD_PREFIX}/`).strings();
      return !Object.keys(values).some((k) => k.endsWith('/nodes/gw-2')) && !Object.values(values).some((v) => v.includes('"gw-2"'));
    });
    for (const r of receivers) expect(r.connected && !r.connectedTo.includes(`:${victim.httpPort}/`)).toBe(true);
    await victim.start();
  }, 90_000);

  for (const dependency of ['redis', 'kafka', 'etcd'] as const) {
    it(`rides out a restart of ${dependency} under traffic: readiness says so, nothing acknowledged is lost`, async () => {
      const tag = `x-${dependency}`;
      await addMember(fleet.nodes[0]!, `${tag}-room`, `${tag}-a`);
      await addMember(fleet.nodes[0]!, `${tag}-room`, `${tag}-b`);
      const a = await client(`${tag}-a`, 'phone', 0);
      const b = await client(`${tag}-b`, 'phone', 1);
      const toB: string[] = [];
      const toRoom: string[] = [];
      let flowing = true;
      const traffic = (async () => {
        for (let i = 0; flowing; i++) {
          toB.push((await a.send(b.userId, `p${i}`, 'user', 60_000)).msgId);
          toRoom.push((await a.send(`${tag}-room`, `g${i}`, 'group', 60_000)).msgId);
        }
      })();
      const statuses: number[] = [];
      let polling = true;
      const poller = (async () => {
        while (polling) {
          statuses.push(await fleet.nodes[0]!.ready().then((r) => r.status, () => 0));
          await sleep(50);
        }
      })();
      await sleep(300);
      await fleet[dependency].restart();
      await eventually('every node is ready again', async () => {
        const ready = await Promise.all(fleet.nodes.map((n) => n.ready().then((r) => r.status === 200, () => false)));
        return ready.every(Boolean);
      }, 60_000);
      await sleep(500);
      flowing = false;
      polling = false;
      await Promise.all([traffic, poller]);
      expect(statuses).toContain(503);
      expect(statuses.at(-1)).toBe(200);
      await b.waitFor([...toB, ...toRoom], 60_000);
    }, 180_000);
  }
});
