/**
 * Which gateway node holds each user's devices. Memory for one node; etcd for
 * a fleet, where each node's entries live under its lease and vanish with it.
 */

export interface DeviceRecord {
  userId: string;
  deviceId: string;
  /** Node id of the gateway holding the socket. */
  node: string;
  /** That node's gRPC address (host:port), for forwarding. */
  grpc: string;
  /** Milliseconds since epoch. */
  connectedAt: number;
}

/**
 * A device as routing sees it: the record and the registry revision that set
 * it (etcd's mod revision of the key; a counter in memory). A later
 * registration of the same device has a higher revision.
 */
export interface DeviceRoute extends DeviceRecord {
  readonly revision: number;
}

/** Identifies one registration, so a late unregister cannot remove a newer one. */
export type RegistrationToken = string;

/** A gateway node that is up: published by the node itself, for as long as it lives. */
export interface NodeRecord {
  node: string;
  /** The node's gRPC address (host:port). */
  grpc: string;
  /** Milliseconds since epoch. */
  startedAt: number;
}

export interface Registry {
  readonly name: string;
  /** Connects and starts this node's presence (its lease); called once before the node serves. */
  start(): Promise<void>;
  healthy(): Promise<boolean>;
  /** Records a device on this node, replacing any earlier record of the same device. */
  register(record: DeviceRecord): Promise<RegistrationToken>;
  /** Removes the record only if it is still the one `token` names. */
  unregister(userId: string, deviceId: string, token: RegistrationToken): Promise<void>;
  /** The user's devices as the registry holds them now (linearizable): for decisions that must be fresh. */
  devices(userId: string): Promise<DeviceRecord[]>;
  /**
   * The user's devices for routing a message, from memory: never waits, never
   * throws. On etcd it is the watch-fed view, which may lag writes made on
   * other nodes by the watch latency (this node's own writes are in it once
   * they return), and answers from the last known state while etcd is away.
   * The array is shared and must not be changed.
   */
  routes(userId: string): readonly DeviceRoute[];
  /** Whether routes() is following the registry right now (false while etcd is away or the view is re-read). */
  routesLive(): boolean;
  /** The live gateway nodes (the operator's view of the fleet). */
  nodes(): Promise<NodeRecord[]>;
  /** Every device registered to `nodeId`, for draining it: on etcd from the routing view, as routes() (other nodes' writes within the watch latency). */
  devicesOnNode(nodeId: string): Promise<DeviceRecord[]>;
  close(): Promise<void>;
}

/** The plain record of a device (a route without its revision), for callers that keep or change it. */
export function plainRecord({ userId, deviceId, node, grpc, connectedAt }: DeviceRecord): DeviceRecord {
  return { userId, deviceId, node, grpc, connectedAt };
}
