/**
 * The demo page moved by a drain: two dev-mode gateways in a fleet on real
 * etcd, Redis and Kafka. Bob's page reaches the fleet through a proxy that,
 * like a Kubernetes Service, picks a ready node; Alice's page talks to the
 * second node directly. The first node is drained through its REST endpoint
 * and then stopped with SIGTERM (what Kubernetes does next): its sockets are
 * closed with 1012 and Bob's page reconnects through the proxy to the other
 * node, where nothing is lost or shown twice.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFleet, type Fleet } from '../../../e2e/fleet/fleet.ts';
import { FLEET_ADMIN_TOKEN } from '../../../e2e/fleet/gateway-process.ts';
import { buildSdk, ChatPage, launchChromium } from '../browser.ts';
import { ServiceProxy } from '../service-proxy.ts';

async function activeConnections(httpUrl: string): Promise<number> {
  const stats = (await (await fetch(`${httpUrl}/stats`)).json()) as { active_connections: number };
  return stats.active_connections;
}

describe('demo page across a drain, two dev gateways in a fleet', () => {
  let browser: Browser;
  let fleet: Fleet;
  let proxy: ServiceProxy;
  const pages: ChatPage[] = [];

  beforeAll(async () => {
    buildSdk();
    browser = await launchChromium();
    fleet = await startFleet(2, { DEV_MODE: 'true' });
    proxy = await ServiceProxy.start(fleet.nodes);
  }, 240_000);
  afterAll(async () => {
    await Promise.allSettled(pages.map((p) => p.close()));
    await browser?.close();
    await proxy?.close();
    await fleet?.stop();
  });

  it('reconnects the page to the other node and loses nothing', async () => {
    const [draining, staying] = fleet.nodes as [Fleet['nodes'][number], Fleet['nodes'][number]];
    const alice = await ChatPage.logIn(browser, staying.httpUrl, 'alice', 'laptop');
    pages.push(alice);
    const bob = await ChatPage.logIn(browser, proxy.url, 'bob', 'phone', 1000);
    pages.push(bob);
    expect(await activeConnections(draining.httpUrl)).toBe(1);
    expect(await activeConnections(staying.httpUrl)).toBe(1);

    await alice.openChat('user', 'bob');
    await alice.send('before the drain');
    await alice.status('before the drain', /^delivered #\d+$/);
    await bob.select('@ alice');
    await bob.message('before the drain').waitFor();
    await alice.status('before the drain', /read by bob/);

    const drain = await fetch(`${draining.httpUrl}/v1/drain`, { method: 'POST', headers: { Authorization: `Bearer ${FLEET_ADMIN_TOKEN}` } });
    expect(drain.status).toBe(202);
    expect((await draining.ready()).status).toBe(503);
    // The drain endpoint keeps open sockets: Bob is still on the draining node.
    expect(await activeConnections(draining.httpUrl)).toBe(1);
    await bob.state('connected', /^connected$/);

    expect(await draining.terminate()).toBe(0);
    await alice.send('during the move');
    // Acked; Bob's page may already be back on the other node and have read it.
    await alice.status('during the move', /^(delivered|offline) #\d+( · read by bob)?$/);
    // Closed by the draining node with 1012 (service restart), then connected again: to the only node left.
    await bob.activity(/reconnecting \(1012/, 20_000);
    await bob.state('connected', /reconnect/, 30_000);
    expect(await activeConnections(staying.httpUrl)).toBe(2);

    await bob.message('during the move').waitFor({ timeout: 15_000 });
    await alice.send('after the move');
    await alice.status('after the move', /^delivered #\d+/);
    await bob.message('after the move').waitFor();
    await bob.send('found you from the other node');
    await bob.status('found you from the other node', /^delivered #\d+/);
    await alice.message('found you from the other node').waitFor();
    await alice.status('after the move', /read by bob/);
    for (const content of ['before the drain', 'during the move', 'after the move']) {
      expect(await bob.message(content).count(), content).toBe(1);
    }
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  }, 120_000);
});
