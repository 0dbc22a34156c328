// A socket lives only as long as its token: at `exp` it gets TOKEN_EXPIRED and
// close 4003, unless a refresh_token frame brought a newer token for the same
// user and device first.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { ExpirySweep, type Expiring } from '../../src/connections/expiry-sweep.ts';
import { OpenClients, TestClient } from '../support/client.ts';
import { startGateway, token, type RunningGateway } from '../support/gateway.ts';

describe('expiry sweep', () => {
  const item = (): Expiring & { name: string } => ({ name: 'x', expiresAt: 0, expirySlot: -1 });

  it('expires an item once the second of its deadline has begun, not before', () => {
    const expired: Expiring[] = [];
    const sweep = new ExpirySweep<Expiring>((i) => expired.push(i), 10_000);
    const a = item();
    sweep.set(a, 12_000);
    sweep.advance(11_999);
    expect(expired).toEqual([]);
    sweep.advance(12_000);
    expect(expired).toEqual([a]);
    expect(a.expirySlot).toBe(-1);
    expect(sweep.size).toBe(0);
  });

  it('moves an item to its new deadline and forgets a removed one', () => {
    const expired: Expiring[] = [];
    const sweep = new ExpirySweep<Expiring>((i) => expired.push(i), 10_000);
    const moved = item();
    const removed = item();
    sweep.set(moved, 11_000);
    sweep.set(removed, 11_000);
    sweep.set(moved, 20_000);
    sweep.remove(removed);
    sweep.advance(19_999);
    expect(expired).toEqual([]);
    expect(sweep.size).toBe(1);
    sweep.advance(25_000);
    expect(expired).toEqual([moved]);
  });

  it('expires a deadline already past at the next sweep, and catches up on seconds a late timer skipped', () => {
    const expired: Expiring[] = [];
    const sweep = new ExpirySweep<Expiring>((i) => expired.push(i), 10_000);
    const past = item();
    const later = item();
    sweep.set(past, 5_000);
    sweep.set(later, 13_500);
    expect(expired).toEqual([]);
    sweep.advance(10_000);
    expect(expired).toEqual([past]);
    sweep.advance(30_000);
    expect(expired).toEqual([past, later]);
  });
});

describe('tokens for the life of a socket', () => {
  let gw: RunningGateway | undefined;
  const clients = new OpenClients();
  /** A token that expires in one to two seconds (exp counts whole seconds). */
  const shortToken = (user: string, device: string): Promise<string> => token(user, device, { expiresInSeconds: 2 });
  const connectWith = async (jwt: string): Promise<TestClient> => {
    const client = clients.add(new TestClient(gw!.wsUrl, { headers: { Authorization: `Bearer ${jwt}` } }));
    await client.next('auth_response');
    return client;
  };

  afterEach(async () => {
    await clients.closeAll();
    await gw?.stop();
    gw = undefined;
  });

  it('closes the socket at exp with a TOKEN_EXPIRED error frame, then 4003', async () => {
    gw = await startGateway();
    const jwt = await shortToken('alice', 'phone');
    const expSeconds = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).exp as number;
    const alice = await connectWith(jwt);
    const err = await alice.next('error', undefined, 4000);
    expect(Date.now()).toBeGreaterThanOrEqual(expSeconds * 1000);
    expect(err).toMatchObject({ error_code: 'TOKEN_EXPIRED' });
    expect(err.error_message).toMatch(/refresh_token/);
    expect((await alice.closed).code).toBe(4003);
    await vi.waitFor(() => expect(gw!.node.hub.get('alice', 'phone')).toBeUndefined());
  });

  it('keeps a socket past its first exp once refresh_token brought a newer token, answering refresh_token_response', async () => {
    gw = await startGateway();
    const alice = await connectWith(await shortToken('alice', 'phone'));
    const fresh = await token('alice', 'phone', { expiresInSeconds: 3600 });
    const exp = JSON.parse(Buffer.from(fresh.split('.')[1]!, 'base64url').toString()).exp as number;
    alice.send({ type: 'refresh_token', token: fresh });
    const answer = await alice.next('refresh_token_response');
    expect(answer).toEqual({ type: 'refresh_token_response', success: true, expires_at: exp * 1000, timestamp: answer.timestamp });
    await sleep(3000);
    alice.send({ type: 'heartbeat' });
    await alice.next('heartbeat_response');
    expect(alice.frames.filter((f) => f.type === 'error')).toEqual([]);
    expect(alice.ws.readyState).toBe(WebSocket.OPEN);
  });

  it('refuses a token for another user or device and keeps the old expiry', async () => {
    gw = await startGateway();
    const alice = await connectWith(await shortToken('alice', 'phone'));
    for (const [user, device] of [['mallory', 'phone'], ['alice', 'laptop']] as const) {
      alice.send({ type: 'refresh_token', token: await token(user, device, { expiresInSeconds: 3600 }) });
      const err = await alice.next('error');
      expect(err).toMatchObject({ error_code: 'AUTH_FAILED', error_message: 'token not refreshed: it is for another user or device than this socket' });
    }
    expect((await alice.next('error', undefined, 4000)).error_code).toBe('TOKEN_EXPIRED');
    expect((await alice.closed).code).toBe(4003);
  });

  it('refuses an invalid, expired or foreign-signed token with the connect token’s codes, leaving the socket open', async () => {
    gw = await startGateway();
    const alice = await connectWith(await token('alice', 'phone'));
    const cases: Array<[unknown, string]> = [
      ['garbage', 'INVALID_TOKEN'],
      [await token('alice', 'phone', { expiresInSeconds: -60 }), 'TOKEN_EXPIRED'],
      [await token('alice', 'phone', { secret: 'another-secret-that-is-also-32-bytes-long' }), 'AUTH_FAILED'],
      ['', 'INVALID_MESSAGE_FORMAT'],
      [42, 'INVALID_MESSAGE_FORMAT'],
      ['x'.repeat(9000), 'INVALID_MESSAGE_FORMAT'],
    ];
    for (const [jwt, code] of cases) {
      alice.send({ type: 'refresh_token', token: jwt });
      expect(await alice.next('error')).toMatchObject({ error_code: code });
    }
    alice.send({ type: 'heartbeat' });
    await alice.next('heartbeat_response');
    expect(alice.frames.filter((f) => f.type === 'refresh_token_response')).toEqual([]);
  });
});
