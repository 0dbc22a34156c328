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
  devices(userId: string): Promise<DeviceRecord[]>;
  /** The live gateway nodes (the operator's view of the fleet). */
  nodes(): Promise<NodeRecord[]>;
  /** Every device registered to `nodeId`, for draining it. */
  devicesOnNode(nodeId: string): Promise<DeviceRecord[]>;
  close(): Promise<void>;
}
