/**
 * Where a fleet keeps its state in the shared backends: its etcd registry
 * prefix, its Redis key prefix and its Kafka topics. By default each is
 * derived from the IMGateway's namespace and name, so two fleets on one etcd,
 * Redis or Kafka never read or delete each other's keys. spec.gateway.prefixes
 * sets them explicitly (e.g. to keep a fleet created before per-fleet defaults
 * on the gateway's own defaults), and a variable in spec.gateway.env still
 * wins, as it did before the field existed.
 */
import type { IMGateway, IMGatewaySpec } from '../api/v1alpha1/types.ts';
import { DEFAULT_ETCD_PREFIX, DEFAULT_REDIS_KEY_PREFIX } from '../../../gateway/src/operator-contract.ts';

export interface FleetPrefixes {
  etcdPrefix: string;
  redisKeyPrefix: string;
  kafkaMessagesTopic: string;
  kafkaGroupTopic: string;
}

/** The gateway variable that carries each prefix. */
export const PREFIX_ENV: Record<keyof FleetPrefixes, string> = {
  etcdPrefix: 'ETCD_PREFIX',
  redisKeyPrefix: 'REDIS_KEY_PREFIX',
  kafkaMessagesTopic: 'KAFKA_MESSAGES_TOPIC',
  kafkaGroupTopic: 'KAFKA_GROUP_TOPIC',
};

export function fleetPrefixes(gw: IMGateway, spec: IMGatewaySpec = gw.spec): FleetPrefixes {
  const namespace = gw.metadata!.namespace!;
  const name = gw.metadata!.name!;
  const set = spec.gateway.prefixes ?? {};
  // Namespaces are DNS labels and names DNS subdomains: no '/', and '.' only inside a name, so these cannot collide.
  const topicPrefix = set.kafkaTopic ?? `im-gateway.${namespace}.${name}`;
  const derived: FleetPrefixes = {
    etcdPrefix: set.etcd ?? `${DEFAULT_ETCD_PREFIX}/${namespace}/${name}`,
    redisKeyPrefix: set.redisKey ?? `${DEFAULT_REDIS_KEY_PREFIX}${namespace}/${name}:`,
    kafkaMessagesTopic: `${topicPrefix}.messages`,
    kafkaGroupTopic: `${topicPrefix}.group-messages`,
  };
  const fromEnv = (variable: string): string | undefined => spec.gateway.env?.find((e) => e.name === variable)?.value;
  return {
    etcdPrefix: fromEnv(PREFIX_ENV.etcdPrefix) ?? derived.etcdPrefix,
    redisKeyPrefix: fromEnv(PREFIX_ENV.redisKeyPrefix) ?? derived.redisKeyPrefix,
    kafkaMessagesTopic: fromEnv(PREFIX_ENV.kafkaMessagesTopic) ?? derived.kafkaMessagesTopic,
    kafkaGroupTopic: fromEnv(PREFIX_ENV.kafkaGroupTopic) ?? derived.kafkaGroupTopic,
  };
}
