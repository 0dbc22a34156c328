/**
 * A drain as the operator runs it, against two real gateway processes on
 * real Redis, etcd and Kafka: the operator closes each user's sockets on the
 * pod it empties through the product's IMGatewayService.CloseConnection
 * (scope CLOSE_SCOPE_LOCAL, close code 1012) with a backend API token. It
 * holds no fleet secret, so it cannot call the peer service's CloseLocal; the
 * same user's socket on the other pod stays open, and the drained clients
 * reconnect there.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetClients } from './fleet/fleet-client.ts';
import { eventually, startFleet, type Fleet } from './fleet/fleet.ts';
import { FLEET_ADMIN_TOKEN, FLEET_GRPC_API_TOKEN } from './fleet/gateway-process.ts';
import { LOOPBACK } from './infra/net.ts';
import { drainPod } from '../operator/src/drain/pod-drain.ts';
import { GatewayClient } from '../operator/src/gateway-client/gateway-client.ts';
import { createLogger } from '../operator/src/log.ts';
import { FleetRegistry } from '../operator/src/registry/fleet-registry.ts';
import { TokenBucket } from '../operator/src/rate/token-bucket.ts';
import { DEFAULT_ETCD_PREFIX } from '../gateway/src/config/defaults.ts';

describe('a drain through CloseConnection', () => {
  let fleet: Fleet;
  const clients = new FleetClients(() => fleet.nodes.map((n) => n.wsUrl));

  beforeAll(async () => {
    fleet = await startFleet(2);
  }, 240_000);

  afterAll(async () => {
    await clients.closeAll();
    await fleet?.stop();
  }, 60_000);

  it('empties one pod with 1012 closes on that pod only, using the API token, and its clients reconnect to the other', async () => {
    const [drained, other] = fleet.nodes as [NonNullable<Fleet['nodes'][0]>, NonNullable<Fleet['nodes'][1]>];
    const alicePhone = await clients.connect('d-alice', 'phone', 0);
    const aliceLaptop = await clients.connect('d-alice', 'laptop', 0, () => [other.wsUrl]);
    const bob = await clients.connect('d-bob', 'phone', 0);
    expect(alicePhone.connectedTo).toBe(drained.wsUrl);
    expect(bob.connectedTo).toBe(drained.wsUrl);

    const gateways = new GatewayClient();
    const registry = new FleetRegistry(fleet.etcd.endpoints, DEFAULT_ETCD_PREFIX);
    try {
      const outcome = await drainPod(
        { podName: drained.nodeId, address: { ip: LOOPBACK, httpPort: drained.httpPort, grpcPort: drained.grpcPort }, startedAt: Date.now() },
        { timeoutSeconds: 30, adminToken: FLEET_ADMIN_TOKEN, apiToken: FLEET_GRPC_API_TOKEN },
        { client: gateways, registry, log: createLogger('error', { component: 'test' }), stopped: () => false, budget: new TokenBucket({ perSecond: 50, burst: 1 }) },
      );
      expect(outcome).toBe('empty');
    } finally {
      gateways.close();
      registry.close();
    }

    for (const client of [alicePhone, bob]) {
      expect(client.closeCodes).toEqual([1012]);
      await eventually(`${client.userId}/${client.deviceId} reconnected to the other pod`, () => client.connectedTo === other.wsUrl);
    }
    // Alice's other device, on the pod that is not drained, was not touched: the close was local.
    expect(aliceLaptop.closeCodes).toEqual([]);
    expect(drained.logs.filter((l) => l.includes('"connections_closed"') && l.includes('"scope":"local"') && l.includes('"close_code":1012')).length).toBe(2);
    // Nothing reached the other pod's peer service on the operator's behalf.
    expect(other.logs.filter((l) => l.includes('connections_closed') || l.includes('close_local'))).toEqual([]);
  }, 60_000);
});
