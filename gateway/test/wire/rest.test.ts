import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startGateway, token, type RunningGateway } from '../support/gateway.ts';
import { OpenClients, TestClient } from '../support/client.ts';


/** The value of one sample line (`name{labels} value`) in Prometheus text, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('REST API over real HTTP', () => {
  let gw: RunningGateway;
  const gateways: RunningGateway[] = [];
  const clients = new OpenClients();
  const connect = (user: string, device: string, on: RunningGateway = gw): Promise<TestClient> => clients.connect(on.wsUrl, user, device);
  const get = (path: string, init: RequestInit = {}): Promise<Response> => fetch(`${gw.httpUrl}${path}`, init);
  const admin = (method: string, path: string, bearer: string | null = ADMIN_TOKEN, on: RunningGateway = gw): Promise<Response> =>
    fetch(`${on.httpUrl}${path}`, { method, headers: bearer === null ? {} : { Authorization: `Bearer ${bearer}` } });
  const member = (method: 'PUT' | 'DELETE' | 'GET', group: string, user?: string): Promise<Response> =>
    admin(method, `/v1/groups/${group}/members${user === undefined ? '' : `/${user}`}`);

  beforeEach(async () => {
    gw = await startGateway();
    gateways.push(gw);
  });
  afterEach(async () => {
    await clients.closeAll();
    await Promise.all(gateways.splice(0).map((g) => g.stop()));
  });

  describe('probes', () => {
    it('answers /health with 200, status healthy and an ISO timestamp', async () => {
      const before = Date.now();
      const res = await get('/health');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await res.json()) as { status: string; timestamp: string };
      expect(Object.keys(body).sort()).toEqual(['status', 'timestamp']);
      expect(body.status).toBe('healthy');
      expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
      expect(Date.parse(body.timestamp)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(body.timestamp)).toBeLessThanOrEqual(Date.now() + 1000);
    });

    it('answers /ready with 200 and every backend healthy while running', async () => {
      const res = await get('/ready');
      expect(res.status).toBe(200);
      const { store, registry, bus } = gw.backends;
      const dependencies = Object.fromEntries([registry, store, bus].map((b) => [b.name, 'healthy']));
      expect(await res.json()).toEqual({ status: 'ready', dependencies });
    });

    it('answers /ready with 503 draining once the node drains, while /health stays 200', async () => {
      await gw.node.drain(500);
      const res = await get('/ready');
      expect(res.status).toBe(503);
      const body = (await res.json()) as { status: string; dependencies: Record<string, string> };
      expect(body.status).toBe('draining');
      expect(Object.keys(body.dependencies).length).toBeGreaterThan(0);
      expect((await get('/health')).status).toBe(200);
    });

    it('answers an unknown path with 404 and an error body', async () => {
      const res = await get('/nope');
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error_code: 'NOT_FOUND' });
    });
  });

  describe('/metrics and /stats after real traffic', () => {
    /** alice and bob (two devices) online, one message alice -> bob, one refused socket. */
    const traffic = async (): Promise<{ alice: TestClient; bobPhone: TestClient; bobLaptop: TestClient }> => {
      const alice = await connect('alice', 'phone');
      const bobPhone = await connect('bob', 'phone');
      const bobLaptop = await connect('bob', 'laptop');
      const id = alice.sendMessage('bob', 'counted');
      expect(await alice.next('ack')).toMatchObject({ msg_id: id, status: 'delivered' });
      await bobPhone.next('message');
      await bobLaptop.next('message');
      const refused = new TestClient(gw.wsUrl, { headers: { Authorization: `Bearer ${await token('eve', 'x', { secret: 'w'.repeat(40) })}` } });
      expect((await refused.closed).code).toBe(4004);
      return { alice, bobPhone, bobLaptop };
    };

    it('exposes the gateway metrics with values that match the traffic, plus process metrics', async () => {
      const { bobLaptop } = await traffic();
      const res = await get('/metrics');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = await res.text();
      expect(sample(text, 'im_gateway_active_connections')).toBe(3);
      expect(sample(text, 'im_gateway_messages_sent_total')).toBe(1);
      // One message, written to both of bob's devices.
      expect(sample(text, 'im_gateway_messages_delivered_total')).toBe(2);
      expect(text).toContain('# TYPE im_gateway_message_latency histogram');
      for (const le of ['1', '50', '100', '200', '1000', '+Inf']) {
        expect(sample(text, `im_gateway_message_latency_bucket{le="${le}"}`)).toBeTypeOf('number');
      }
      expect(sample(text, 'im_gateway_message_latency_bucket{le="+Inf"}')).toBe(1);
      expect(sample(text, 'im_gateway_message_latency_count')).toBe(1);
      expect(sample(text, 'im_gateway_connection_errors_total{code="AUTH_FAILED"}')).toBe(1);
      expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
      expect(text).toContain('nodejs_eventloop_lag_seconds');

      await bobLaptop.close();
      let active: number | undefined;
      for (let i = 0; i < 20; i++) {
        active = sample(await (await get('/metrics')).text(), 'im_gateway_active_connections');
        if (active === 2) break;
        await sleep(25);
      }
      expect(active).toBe(2);
    });

    it('reports /stats with counters, uptime, memory, event loop and cache sizes', async () => {
      expect((await member('PUT', 'team', 'alice')).status).toBe(201);
      await traffic();
      const res = await get('/stats');
      expect(res.status).toBe(200);
      const stats = (await res.json()) as Record<string, unknown>;
      expect(stats).toMatchObject({
        node_id: 'test-node',
        active_connections: 3,
        total_messages_sent: 1,
        total_messages_delivered: 2,
        draining: false,
        cache_stats: { user_mapping_size: 2, group_membership_size: 1 },
      });
      expect(stats.uptime_seconds).toBeTypeOf('number');
      expect(stats.uptime_seconds).toBeGreaterThanOrEqual(0);
      expect(stats.memory_usage_bytes).toBeGreaterThan(1_000_000);
      const loop = stats.event_loop as { utilization: number; delay_p99_ms: number };
      expect(loop.utilization).toBeGreaterThanOrEqual(0);
      expect(loop.utilization).toBeLessThanOrEqual(1);
      expect(loop.delay_p99_ms).toBeTypeOf('number');
      // One node without Redis: the in-memory store's holdings against its bound.
      const store = stats.memory_store as Record<string, number>;
      expect(store.entries).toBeGreaterThanOrEqual(1);
      expect(store.log_bytes).toBeGreaterThan(0);
      expect(store).toMatchObject({ max_log_bytes: 512 * 1024 * 1024, dedup_keys: 1, max_dedup_keys: 500_000 });
      expect(store.max_message_bytes).toBe(512 * 1024 * 1024 + 500_000 * 200);
    });
  });

  describe('admin API for group membership', () => {
    it('refuses without a bearer token and with a wrong one: 401 with WWW-Authenticate', async () => {
      for (const bearer of [null, 'wrong-token', `${ADMIN_TOKEN}x`, '']) {
        for (const method of ['PUT', 'DELETE', 'GET'] as const) {
          const path = method === 'GET' ? '/v1/groups/team/members' : '/v1/groups/team/members/alice';
          const res = await admin(method, path, bearer);
          expect(res.status, `${method} with ${bearer}`).toBe(401);
          expect(res.headers.get('www-authenticate')).toBe('Bearer');
          expect(await res.json()).toMatchObject({ error_code: 'AUTH_FAILED' });
        }
      }
      // Nothing changed.
      expect((await member('GET', 'team')).status).toBe(404);
    });

    it('is off (403) when ADMIN_TOKEN is set to an empty string', async () => {
      const off = await startGateway({ ADMIN_TOKEN: '' });
      gateways.push(off);
      expect(off.node.config.adminToken).toBeUndefined();
      for (const bearer of [null, '', ADMIN_TOKEN]) {
        const res = await admin('PUT', '/v1/groups/team/members/alice', bearer, off);
        expect(res.status).toBe(403);
        expect(await res.json()).toMatchObject({ error_code: 'ADMIN_DISABLED' });
      }
    });

    it('answers 400 for an invalid group or user id', async () => {
      for (const path of [
        '/v1/groups/bad%20group/members/alice',
        '/v1/groups/team/members/bad!user',
        `/v1/groups/team/members/${'u'.repeat(129)}`,
        '/v1/groups/te%2Fam/members/alice',
      ]) {
        const res = await admin('PUT', path);
        expect(res.status, path).toBe(400);
        expect(await res.json()).toMatchObject({ error_code: 'INVALID_MESSAGE_FORMAT' });
      }
      expect((await admin('GET', '/v1/groups/bad%20group/members')).status).toBe(400);
      expect((await admin('DELETE', '/v1/groups/team/members/bad!user')).status).toBe(400);
    });

    it('joins with 201 first and 200 on repeat, lists members, and leaves with 200 then 404', async () => {
      let res = await member('PUT', 'team', 'alice');
      expect(res.status).toBe(201);
      expect(await res.json()).toEqual({ group_id: 'team', user_id: 'alice', change_type: 'join', changed: true });
      res = await member('PUT', 'team', 'alice');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ group_id: 'team', user_id: 'alice', change_type: 'join', changed: false });
      expect((await member('PUT', 'team', 'bob')).status).toBe(201);

      res = await member('GET', 'team');
      expect(res.status).toBe(200);
      const listed = (await res.json()) as { group_id: string; members: string[] };
      expect({ ...listed, members: [...listed.members].sort() }).toEqual({ group_id: 'team', members: ['alice', 'bob'] });

      res = await member('DELETE', 'team', 'alice');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ group_id: 'team', user_id: 'alice', change_type: 'leave', changed: true });
      res = await member('DELETE', 'team', 'alice');
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error_code: 'NOT_FOUND' });
      expect((await member('DELETE', 'nogroup', 'alice')).status).toBe(404);
      expect(await (await member('GET', 'team')).json()).toEqual({ group_id: 'team', members: ['bob'] });
    });

    it('sends membership_change to online members and the user concerned, not to outsiders', async () => {
      expect((await member('PUT', 'team', 'bob')).status).toBe(201);
      const bob = await connect('bob', 'phone');
      const bobLaptop = await connect('bob', 'laptop');
      const alice = await connect('alice', 'phone');
      const dave = await connect('dave', 'phone');
      // bob's own join, from before he connected, is replayed first.
      expect(await bob.next('membership_change')).toMatchObject({ group_id: 'team', change_type: 'join', user_id: 'bob' });
      await bobLaptop.next('membership_change');

      const before = Date.now();
      expect((await member('PUT', 'team', 'alice')).status).toBe(201);
      for (const c of [bob, bobLaptop, alice]) {
        const change = await c.next('membership_change');
        expect(change).toEqual({ type: 'membership_change', group_id: 'team', change_type: 'join', user_id: 'alice', timestamp: change.timestamp });
        expect(change.timestamp).toBeGreaterThanOrEqual(before);
        expect(change.timestamp).toBeLessThanOrEqual(Date.now());
      }

      // A repeated join changes nothing and announces nothing.
      expect((await member('PUT', 'team', 'alice')).status).toBe(200);
      await bob.nothing('membership_change', 100);

      expect((await member('DELETE', 'team', 'alice')).status).toBe(200);
      for (const c of [bob, bobLaptop, alice]) {
        expect(await c.next('membership_change')).toMatchObject({ group_id: 'team', change_type: 'leave', user_id: 'alice' });
      }
      await dave.nothing('membership_change', 100);
      await alice.nothing('membership_change', 0);
    });

    it('gives a member who was offline the changes on connect, in order', async () => {
      expect((await member('PUT', 'team', 'carol')).status).toBe(201);
      expect((await member('PUT', 'team', 'alice')).status).toBe(201);
      expect((await member('DELETE', 'team', 'alice')).status).toBe(200);
      const carol = await connect('carol', 'phone');
      const got = [await carol.next('membership_change'), await carol.next('membership_change'), await carol.next('membership_change')];
      expect(got.map((c) => [c.change_type, c.user_id])).toEqual([
        ['join', 'carol'],
        ['join', 'alice'],
        ['leave', 'alice'],
      ]);
      await carol.nothing('membership_change');
      // alice, offline throughout, learns that she left: her join is in the
      // group's membership log, which she no longer reads as a non-member.
      const alice = await connect('alice', 'phone');
      expect(await alice.next('membership_change')).toMatchObject({ group_id: 'team', change_type: 'leave', user_id: 'alice' });
      await alice.nothing('membership_change');
      // Delivered once: a reconnect does not repeat them.
      await carol.close();
      const again = await connect('carol', 'phone');
      await again.nothing('membership_change');
    });
  });
});

describe('POST /v1/drain (the operator marks a pod for removal)', () => {
  it('fails /ready and refuses new sockets but keeps the open ones, for the admin only', async () => {
    const gw = await startGateway();
    try {
      const open = await TestClient.connect(gw.wsUrl, 'alice', 'phone');
      expect((await fetch(`${gw.httpUrl}/v1/drain`, { method: 'POST' })).status).toBe(401);
      const res = await fetch(`${gw.httpUrl}/v1/drain`, { method: 'POST', headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
      expect(res.status).toBe(202);
      const ready = await fetch(`${gw.httpUrl}/ready`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: 'draining' });
      const refused = new TestClient(gw.wsUrl);
      const status = await new Promise<number>((resolve) => refused.ws.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0)));
      expect(status).toBe(503);
      open.send({ type: 'heartbeat' });
      expect(await open.next('heartbeat_response')).toBeTruthy();
      await open.close();
    } finally {
      await gw.stop();
    }
  });
});
