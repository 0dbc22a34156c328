/**
 * Each fleet's state sits under its own etcd prefix, Redis key prefix and
 * Kafka topics by default, so two IMGateways on one backend never meet; the
 * operator's registry loop reads the prefix the pods are given.
 */
import { describe, expect, it } from 'vitest';
import { withDefaults, type IMGateway, type IMGatewaySpec } from '../src/api/v1alpha1/types.ts';
import { gatewayEnv } from '../src/resources/owned.ts';
import { fleetPrefixes } from '../src/resources/prefixes.ts';
import { REQUIRED_GATEWAY } from './support/spec.ts';

const fleet = (namespace: string, name: string, gateway: Partial<IMGatewaySpec['gateway']> = {}): IMGateway => ({
  apiVersion: 'imgateway.io/v1alpha1',
  kind: 'IMGateway',
  metadata: { name, namespace, uid: `${namespace}-${name}` },
  spec: { gateway: { ...REQUIRED_GATEWAY, ...gateway } },
});
const envOf = (gw: IMGateway): Record<string, string | undefined> =>
  Object.fromEntries(gatewayEnv(gw, withDefaults(gw.spec)).map((e) => [e.name, e.value]));

describe('per-fleet prefixes', () => {
  it('derive from namespace and name, and differ between fleets of one name in two namespaces', () => {
    const a = fleetPrefixes(fleet('team-a', 'chat'));
    const b = fleetPrefixes(fleet('team-b', 'chat'));
    expect(a).toEqual({
      etcdPrefix: '/im-gateway/team-a/chat',
      redisKeyPrefix: 'im:team-a/chat:',
      kafkaMessagesTopic: 'im-gateway.team-a.chat.messages',
      kafkaGroupTopic: 'im-gateway.team-a.chat.group-messages',
    });
    for (const field of Object.keys(a) as Array<keyof typeof a>) expect(a[field]).not.toBe(b[field]);
  });

  it('reach the pods as ETCD_PREFIX, REDIS_KEY_PREFIX and the two topic variables', () => {
    expect(envOf(fleet('im', 'chat'))).toMatchObject({
      ETCD_PREFIX: '/im-gateway/im/chat',
      REDIS_KEY_PREFIX: 'im:im/chat:',
      KAFKA_MESSAGES_TOPIC: 'im-gateway.im.chat.messages',
      KAFKA_GROUP_TOPIC: 'im-gateway.im.chat.group-messages',
    });
  });

  it('take spec.gateway.prefixes, and a variable set in spec.gateway.env once, over the derived ones', () => {
    const gw = fleet('im', 'chat', { prefixes: { etcd: '/im-gateway', redisKey: 'im:', kafkaTopic: 'im-gateway' }, env: [{ name: 'REDIS_KEY_PREFIX', value: 'legacy:' }] });
    expect(fleetPrefixes(gw)).toEqual({ etcdPrefix: '/im-gateway', redisKeyPrefix: 'legacy:', kafkaMessagesTopic: 'im-gateway.messages', kafkaGroupTopic: 'im-gateway.group-messages' });
    const env = gatewayEnv(gw, withDefaults(gw.spec));
    expect(env.filter((e) => e.name === 'REDIS_KEY_PREFIX')).toEqual([{ name: 'REDIS_KEY_PREFIX', value: 'legacy:' }]);
    expect(env.filter((e) => e.name === 'ETCD_PREFIX')).toEqual([{ name: 'ETCD_PREFIX', value: '/im-gateway' }]);
  });
});
