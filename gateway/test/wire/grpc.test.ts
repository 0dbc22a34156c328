import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadGatewayService, SERVICE_NAME } from '../../src/api/grpc-server.ts';
import { bearerCallCredentials } from '../../src/api/grpc-auth.ts';
import { GRPC_API_TOKEN, startGateway, token, type RunningGateway } from '../support/gateway.ts';
import { OpenClients, TestClient } from '../support/client.ts';

interface PushResponse {
  success: boolean;
  status: string;
  error_message: string;
}
interface DeviceStatus {
  device_id: string;
  online: boolean;
  gateway_node: string;
  connected_at: number;
}
interface StatusResponse {
  online: boolean;
  devices: DeviceStatus[];
}
interface CloseResponse {
  success: boolean;
  closed_count: number;
}

const API_CREDENTIALS = bearerCallCredentials(GRPC_API_TOKEN);

/** One unary call with a short deadline and the backend's API token, as a promise. */
function call<Res>(client: grpc.Client, method: string, request: object): Promise<Res> {
  const fn = (client as unknown as Record<string, (...args: unknown[]) => unknown>)[method]!;
  return new Promise((resolve, reject) => {
    const options: grpc.CallOptions = { deadline: Date.now() + 3000, credentials: API_CREDENTIALS };
    fn.call(client, request, options, (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)));
  });
}

function rejection(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  return promise.then(
    (res) => {
      throw new Error(`expected an error, got ${JSON.stringify(res)}`);
    },
    (err: grpc.ServiceError) => err,
  );
}


describe('gRPC IMGatewayService over a real channel', () => {
  let gw: RunningGateway;
  let rpc: grpc.Client;
  let health: grpc.Client;
  const clients = new OpenClients();
  const connect = (user: string, device: string): Promise<TestClient> => clients.connect(gw.wsUrl, user, device);
  const push = (fields: Partial<Record<string, string | number>>): Promise<PushResponse> =>
    call<PushResponse>(rpc, 'PushMessage', {
      user_id: 'alice',
      device_id: '',
      msg_id: 'push-1',
      sender_id: 'im-service',
      content: 'hello from the IM service',
      sequence_number: 4242,
      timestamp: 1706180400000,
      ...fields,
    });
  const status = (userId: string, deviceId = ''): Promise<StatusResponse> =>
    call<StatusResponse>(rpc, 'GetConnectionStatus', { user_id: userId, device_id: deviceId });
  const closeConnection = (userId: string, deviceId: string, reason: string): Promise<CloseResponse> =>
    call<CloseResponse>(rpc, 'CloseConnection', { user_id: userId, device_id: deviceId, reason });
  const check = (service: string): Promise<{ status: string }> => call(health, 'Check', { service });

  beforeEach(async () => {
    gw = await startGateway();
    const Service = loadGatewayService();
    rpc = new Service(gw.grpcAddress, grpc.credentials.createInsecure());
    const Health = grpc.makeGenericClientConstructor(healthService as unknown as grpc.ServiceDefinition, 'Health');
    health = new Health(gw.grpcAddress, grpc.credentials.createInsecure());
  });
  afterEach(async () => {
    await clients.closeAll();
    rpc.close();
    health.close();
    await gw.stop();
  });

  describe('PushMessage', () => {
    it('delivers to every device of an online user when device_id is empty, with the caller’s fields', async () => {
      const phone = await connect('alice', 'phone');
      const laptop = await connect('alice', 'laptop');
      expect(await push({})).toEqual({ success: true, status: 'delivered', error_message: '' });
      for (const device of [phone, laptop]) {
        expect(await device.next('message')).toEqual({
          type: 'message',
          msg_id: 'push-1',
          sender_id: 'im-service',
          recipient_id: 'alice',
          recipient_type: 'user',
          content: 'hello from the IM service',
          sequence_number: 4242,
          timestamp: 1706180400000,
        });
      }
      await phone.nothing('message');
    });

    it('delivers only to the named device when device_id is set, now and after reconnects', async () => {
      let phone = await connect('alice', 'phone');
      const laptop = await connect('alice', 'laptop');
      expect(await push({ device_id: 'laptop' })).toMatchObject({ success: true, status: 'delivered' });
      expect(await laptop.next('message')).toMatchObject({ msg_id: 'push-1', sequence_number: 4242 });
      await phone.nothing('message');
      // The entry stays meant for the laptop: the phone does not get it on replay either.
      await phone.close();
      phone = await connect('alice', 'phone');
      await phone.nothing('message');
    });

    it('answers offline for a user with no device online and delivers right after the next auth_response', async () => {
      expect(await push({ msg_id: 'queued-1', content: 'while you were away' })).toEqual({ success: true, status: 'offline', error_message: '' });
      const alice = new TestClient(gw.wsUrl, { headers: { Authorization: `Bearer ${await token('alice', 'phone')}` } });
      clients.add(alice);
      const first = await alice.next();
      const second = await alice.next();
      expect(first).toMatchObject({ type: 'auth_response', user_id: 'alice', device_id: 'phone' });
      expect(second).toMatchObject({ type: 'message', msg_id: 'queued-1', content: 'while you were away', sequence_number: 4242, sender_id: 'im-service' });
      await alice.nothing('message');
    });

    it('answers offline when only another device of the user is online and the named device is not', async () => {
      const phone = await connect('alice', 'phone');
      expect(await push({ device_id: 'tablet' })).toMatchObject({ success: true, status: 'offline' });
      await phone.nothing('message');
      const tablet = await connect('alice', 'tablet');
      expect(await tablet.next('message')).toMatchObject({ msg_id: 'push-1' });
    });

    it('delivers again after reconnect to a device that did not ack, and not to one that did', async () => {
      let phone = await connect('alice', 'phone');
      let laptop = await connect('alice', 'laptop');
      await push({});
      phone.ack((await phone.next('message')).msg_id as string);
      await laptop.next('message');
      // Let the ack land before the sockets go.
      await sleep(50);
      await Promise.all([phone.close(), laptop.close()]);
      phone = await connect('alice', 'phone');
      laptop = await connect('alice', 'laptop');
      expect(await laptop.next('message')).toMatchObject({ msg_id: 'push-1', sequence_number: 4242 });
      await phone.nothing('message');
      await laptop.nothing('message');
    });

    it('does not deliver a retried push (same sender_id and msg_id) twice, live or on replay', async () => {
      let phone = await connect('alice', 'phone');
      expect(await push({})).toMatchObject({ status: 'delivered' });
      expect(await push({ content: 'retry' })).toEqual({ success: true, status: 'delivered', error_message: '' });
      expect(await phone.next('message')).toMatchObject({ msg_id: 'push-1', content: 'hello from the IM service' });
      await phone.nothing('message');
      // The same msg_id from another sender is a different message.
      expect(await push({ sender_id: 'other-service' })).toMatchObject({ status: 'delivered' });
      expect(await phone.next('message')).toMatchObject({ msg_id: 'push-1', sender_id: 'other-service' });
      await phone.close();
      phone = await connect('alice', 'phone');
      const replayed = [await phone.next('message'), await phone.next('message')];
      expect(replayed.map((m) => m.sender_id)).toEqual(['im-service', 'other-service']);
      await phone.nothing('message');
    });

    it('does not queue a retried push twice for an offline user', async () => {
      expect(await push({})).toMatchObject({ status: 'offline' });
      expect(await push({})).toMatchObject({ status: 'offline' });
      const phone = await connect('alice', 'phone');
      await phone.next('message');
      await phone.nothing('message');
    });

    it('stamps the server time when the caller sends timestamp 0', async () => {
      const phone = await connect('alice', 'phone');
      const before = Date.now();
      await push({ timestamp: 0 });
      const msg = await phone.next('message');
      expect(msg.timestamp).toBeGreaterThanOrEqual(before);
      expect(msg.timestamp).toBeLessThanOrEqual(Date.now());
    });

    it('rejects an invalid user_id, msg_id, sender_id or device_id with INVALID_ARGUMENT', async () => {
      for (const [fields, field] of [
        [{ user_id: '' }, 'user_id'],
        [{ user_id: 'not a user!' }, 'user_id'],
        [{ user_id: 'x'.repeat(129) }, 'user_id'],
        [{ msg_id: '' }, 'msg_id'],
        [{ sender_id: 'bad/sender' }, 'sender_id'],
        [{ device_id: 'bad device' }, 'device_id'],
      ] as const) {
        const err = await rejection(push(fields));
        expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
        expect(err.details).toContain(field);
      }
    });
  });

  describe('GetConnectionStatus', () => {
    it('lists each connected device with its node and connect time', async () => {
      const before = Date.now();
      await connect('alice', 'phone');
      await connect('alice', 'laptop');
      const after = Date.now();
      const res = await status('alice');
      expect(res.online).toBe(true);
      const devices = [...res.devices].sort((a, b) => a.device_id.localeCompare(b.device_id));
      expect(devices.map((d) => ({ ...d, connected_at: 0 }))).toEqual([
        { device_id: 'laptop', online: true, gateway_node: 'test-node', connected_at: 0 },
        { device_id: 'phone', online: true, gateway_node: 'test-node', connected_at: 0 },
      ]);
      for (const d of devices) {
        expect(d.connected_at).toBeGreaterThanOrEqual(before);
        expect(d.connected_at).toBeLessThanOrEqual(after);
      }
    });

    it('filters by device_id, and reports a device that is not connected as offline', async () => {
      await connect('alice', 'phone');
      await connect('alice', 'laptop');
      const one = await status('alice', 'phone');
      expect(one.online).toBe(true);
      expect(one.devices.map((d) => d.device_id)).toEqual(['phone']);
      expect(await status('alice', 'tablet')).toEqual({ online: false, devices: [] });
    });

    it('reports a user with no socket, or whose socket closed, as offline', async () => {
      expect(await status('nobody')).toEqual({ online: false, devices: [] });
      const bob = await connect('bob', 'phone');
      expect((await status('bob')).online).toBe(true);
      await bob.close();
      for (let i = 0; i < 20 && (await status('bob')).online; i++) await sleep(25);
      expect(await status('bob')).toEqual({ online: false, devices: [] });
    });

    it('rejects an invalid user_id with INVALID_ARGUMENT', async () => {
      const err = await rejection(status('no spaces allowed'));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    });
  });

  describe('CloseConnection', () => {
    it('closes one device with a CONNECTION_CLOSED error frame, then close code 4011 carrying the reason', async () => {
      const phone = await connect('alice', 'phone');
      const laptop = await connect('alice', 'laptop');
      expect(await closeConnection('alice', 'phone', 'account suspended')).toEqual({ success: true, closed_count: 1 });
      expect(await phone.next('error')).toMatchObject({ error_code: 'CONNECTION_CLOSED', error_message: 'account suspended' });
      expect(await phone.closed).toEqual({ code: 4011, reason: 'account suspended' });
      // The other device stays connected and served.
      laptop.send({ type: 'heartbeat', timestamp: Date.now() });
      expect(await laptop.next('heartbeat_response')).toMatchObject({ type: 'heartbeat_response' });
      for (let i = 0; i < 20 && (await status('alice')).devices.length > 1; i++) await sleep(25);
      expect((await status('alice')).devices.map((d) => d.device_id)).toEqual(['laptop']);
    });

    it('closes every device of the user when device_id is empty and counts them', async () => {
      const devices = [await connect('alice', 'phone'), await connect('alice', 'laptop'), await connect('alice', 'tablet')];
      const bob = await connect('bob', 'phone');
      expect(await closeConnection('alice', '', 'maintenance')).toEqual({ success: true, closed_count: 3 });
      for (const d of devices) {
        expect(await d.next('error')).toMatchObject({ error_code: 'CONNECTION_CLOSED', error_message: 'maintenance' });
        expect(await d.closed).toEqual({ code: 4011, reason: 'maintenance' });
      }
      expect(bob.ws.readyState).toBe(1);
      // Nothing is left to close.
      expect(await closeConnection('alice', '', 'maintenance')).toEqual({ success: true, closed_count: 0 });
    });

    it('counts zero for a user or device with no socket', async () => {
      await connect('alice', 'phone');
      expect(await closeConnection('nobody', '', 'x')).toEqual({ success: true, closed_count: 0 });
      expect(await closeConnection('alice', 'tablet', 'x')).toEqual({ success: true, closed_count: 0 });
    });

    it('closes with 1012 and no error frame when close_code asks for a reconnect, on this node only with CLOSE_SCOPE_LOCAL', async () => {
      const phone = await connect('alice', 'phone');
      const frames: string[] = [];
      phone.ws.on('message', (data: Buffer) => frames.push(data.toString()));
      const reply = await call<CloseResponse>(rpc, 'CloseConnection', { user_id: 'alice', device_id: '', reason: 'pod is being removed', scope: 1, close_code: 1012 });
      expect(reply).toEqual({ success: true, closed_count: 1 });
      expect(await phone.closed).toEqual({ code: 1012, reason: 'pod is being removed' });
      expect(frames.filter((f) => f.includes('CONNECTION_CLOSED'))).toEqual([]);
    });

    it('refuses a close_code other than 4011 or 1012, and an unknown scope, before touching a socket', async () => {
      const phone = await connect('alice', 'phone');
      for (const request of [{ close_code: 4010 }, { close_code: 1000 }, { close_code: 4999 }, { scope: 7 }]) {
        const err = await rejection(call(rpc, 'CloseConnection', { user_id: 'alice', device_id: '', reason: 'x', ...request }));
        expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      }
      phone.send({ type: 'heartbeat', timestamp: Date.now() });
      expect(await phone.next('heartbeat_response')).toMatchObject({ type: 'heartbeat_response' });
    });

    it('gives a default reason when none is sent', async () => {
      const phone = await connect('alice', 'phone');
      expect(await closeConnection('alice', 'phone', '')).toMatchObject({ closed_count: 1 });
      expect(await phone.next('error')).toMatchObject({ error_code: 'CONNECTION_CLOSED', error_message: 'closed by server' });
      expect(await phone.closed).toEqual({ code: 4011, reason: 'closed by server' });
    });

    it('cuts a long reason to 123 bytes of whole characters in the close frame, keeping it whole in the error frame', async () => {
      // 3-byte characters after one ASCII byte: a byte cut at 123 lands inside a character.
      const reason = `a${'账号已被管理员封禁'.repeat(6)}`;
      expect(Buffer.byteLength(reason)).toBeGreaterThan(123);
      const phone = await connect('alice', 'phone');
      expect(await closeConnection('alice', 'phone', reason)).toEqual({ success: true, closed_count: 1 });
      expect(await phone.next('error')).toMatchObject({ error_code: 'CONNECTION_CLOSED', error_message: reason });
      const closed = await phone.closed;
      expect(closed.code).toBe(4011);
      expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
      expect(closed.reason.length).toBeGreaterThan(30);
      expect(reason.startsWith(closed.reason)).toBe(true);
    });

    it('rejects an invalid user_id with INVALID_ARGUMENT', async () => {
      const err = await rejection(closeConnection('', '', 'x'));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    });
  });

  describe('grpc.health.v1.Health', () => {
    it('reports SERVING for the server and the gateway service while running', async () => {
      expect(await check('')).toEqual({ status: 'SERVING' });
      expect(await check(SERVICE_NAME)).toEqual({ status: 'SERVING' });
      const err = await rejection(check('no.such.Service'));
      expect(err.code).toBe(grpc.status.NOT_FOUND);
    });

    it('reports NOT_SERVING once the node starts draining', async () => {
      const alice = await connect('alice', 'phone');
      const drained = gw.node.drain(2000);
      expect(await check('')).toEqual({ status: 'NOT_SERVING' });
      expect(await check(SERVICE_NAME)).toEqual({ status: 'NOT_SERVING' });
      await drained;
      expect(await alice.closed).toMatchObject({ code: 1012 });
    });
  });
});
