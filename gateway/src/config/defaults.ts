/**
 * Defaults that name shared state: keys and topics every node of a fleet, and
 * the operator, must agree on. Declared once here, without dependencies, so
 * the config table, the backends (for callers without a config: tests,
 * benchmarks) and the operator all read the same value.
 */

/** Key prefix of the fleet's registry in etcd (ETCD_PREFIX). */
export const DEFAULT_ETCD_PREFIX = '/im-gateway';
/** Prefix of every Redis key (REDIS_KEY_PREFIX), so several fleets can share one Redis. */
export const DEFAULT_REDIS_KEY_PREFIX = 'im:';
/** The private-message log (KAFKA_MESSAGES_TOPIC). */
export const DEFAULT_MESSAGES_TOPIC = 'im-gateway.messages';
/** Group messages and membership changes (KAFKA_GROUP_TOPIC). */
export const DEFAULT_GROUP_TOPIC = 'im-gateway.group-messages';
