/**
 * The objects an IMGateway owns, built from its spec: pure functions, so
 * what the operator would create can be tested without a cluster. Owner
 * references make Kubernetes delete them with the IMGateway.
 */
import type {
  V1Deployment,
  V1EnvVar,
  V1NetworkPolicy,
  V1NetworkPolicyPeer,
  V1OwnerReference,
  V1PodDisruptionBudget,
  V1PodSpec,
  V1Service,
  V1TopologySpreadConstraint,
} from '@kubernetes/client-node';
import { API_VERSION, KIND, type IMGateway, type PodTemplateSpec, type ResolvedIMGatewaySpec } from '../api/v1alpha1/types.ts';
import { fleetLabels, selectorLabels } from './labels.ts';
import { fleetPrefixes, PREFIX_ENV, type FleetPrefixes } from './prefixes.ts';

export function ownerReference(gw: IMGateway): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: gw.metadata!.name!,
    uid: gw.metadata!.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function metadata(gw: IMGateway, extra: Record<string, string> = {}, name = gw.metadata!.name!) {
  return {
    name,
    namespace: gw.metadata!.namespace!,
    labels: fleetLabels(gw.metadata!.name!),
    annotations: extra,
    ownerReferences: [ownerReference(gw)],
  };
}

/** The gateway Deployment; `replicas` is the operator's decision, not part of the spec. */
export function buildDeployment(gw: IMGateway, spec: ResolvedIMGatewaySpec, replicas: number): V1Deployment {
  const name = gw.metadata!.name!;
  const { port, grpcPort } = spec.service;
  const pod = spec.podTemplate ?? {};
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: metadata(gw),
    spec: {
      replicas,
      selector: { matchLabels: selectorLabels(name) },
      // A new pod must be ready before an old one goes: sockets move, they are not dropped.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          // The fleet's labels last: the selector must keep matching whatever the template adds.
          labels: { ...pod.labels, ...fleetLabels(name) },
          ...(pod.annotations !== undefined ? { annotations: { ...pod.annotations } } : {}),
        },
        spec: {
          // SIGTERM makes the gateway drain by itself; give it the drain's time and a margin.
          terminationGracePeriodSeconds: spec.drain.timeoutSeconds + 15,
          ...podScheduling(name, pod),
          securityContext: { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: 'gateway',
              image: spec.image,
              ...(spec.imagePullPolicy !== undefined ? { imagePullPolicy: spec.imagePullPolicy } : {}),
              ports: [
                { name: 'http', containerPort: port, protocol: 'TCP' },
                { name: 'grpc', containerPort: grpcPort, protocol: 'TCP' },
              ],
              env: gatewayEnv(gw, spec),
              ...(pod.envFrom !== undefined ? { envFrom: structuredClone(pod.envFrom) } : {}),
              resources: structuredClone(spec.resources) as never,
              ...(pod.volumeMounts !== undefined ? { volumeMounts: structuredClone(pod.volumeMounts) } : {}),
              readinessProbe: { httpGet: { path: '/ready', port: 'http' }, periodSeconds: 5, failureThreshold: 2 },
              livenessProbe: { httpGet: { path: '/health', port: 'http' }, periodSeconds: 10, failureThreshold: 6 },
              securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
            },
          ],
        },
      },
    },
  };
}

/**
 * Where the pods run and as whom. Without topologySpreadConstraints in the
 * spec, pods spread over zones and hosts: one node or zone lost takes as few
 * users' sockets as possible. ScheduleAnyway, so a small cluster still runs
 * the fleet; pod-template-hash, so a rollout's new pods spread among
 * themselves.
 */
export function podScheduling(name: string, pod: PodTemplateSpec): Omit<V1PodSpec, 'containers'> {
  const spread = (topologyKey: string): V1TopologySpreadConstraint => ({
    maxSkew: 1,
    topologyKey,
    whenUnsatisfiable: 'ScheduleAnyway',
    labelSelector: { matchLabels: selectorLabels(name) },
    matchLabelKeys: ['pod-template-hash'],
  });
  const copy = <T>(value: T | undefined): T | undefined => (value === undefined ? undefined : structuredClone(value));
  const fields: Omit<V1PodSpec, 'containers'> = {
    serviceAccountName: pod.serviceAccountName,
    imagePullSecrets: copy(pod.imagePullSecrets),
    nodeSelector: copy(pod.nodeSelector),
    affinity: copy(pod.affinity),
    tolerations: copy(pod.tolerations),
    topologySpreadConstraints: copy(pod.topologySpreadConstraints) ?? [spread('topology.kubernetes.io/zone'), spread('kubernetes.io/hostname')],
    priorityClassName: pod.priorityClassName,
    volumes: copy(pod.volumes),
  };
  // Unset fields stay out of the object: the spec hash and the API server's copy compare equal.
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** The gateway's environment (README's configuration table) from the spec. */
export function gatewayEnv(gw: IMGateway, spec: ResolvedIMGatewaySpec): V1EnvVar[] {
  const { gateway, service, drain } = spec;
  const env: V1EnvVar[] = [
    { name: 'NODE_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
    { name: 'PORT', value: String(service.port) },
    { name: 'GRPC_PORT', value: String(service.grpcPort) },
    { name: 'GRPC_ADVERTISE_ADDRESS', value: `$(POD_IP):${service.grpcPort}` },
    { name: 'ETCD_ENDPOINTS', value: gateway.etcdEndpoints.join(',') },
    gateway.redisUrlSecretRef !== undefined
      ? { name: 'REDIS_URL', valueFrom: { secretKeyRef: { ...gateway.redisUrlSecretRef } } }
      : { name: 'REDIS_URL', value: gateway.redisUrl ?? '' },
    { name: 'KAFKA_BROKERS', value: gateway.kafkaBrokers.join(',') },
    { name: 'ADMIN_TOKEN', valueFrom: { secretKeyRef: { ...gateway.adminTokenSecretRef } } },
    { name: 'GRPC_API_TOKENS', valueFrom: { secretKeyRef: { ...gateway.grpcApiTokensSecretRef } } },
    { name: 'FLEET_SECRET', valueFrom: { secretKeyRef: { ...gateway.fleetSecretRef } } },
    { name: 'DRAIN_CLOSES_PER_SECOND', value: String(drain.closesPerSecond) },
    { name: 'SHUTDOWN_TIMEOUT_MS', value: String(drain.timeoutSeconds * 1000) },
  ];
  const { jwt } = gateway;
  if (jwt.secretRef !== undefined) env.push({ name: 'JWT_SECRET', valueFrom: { secretKeyRef: { ...jwt.secretRef } } });
  if (jwt.publicKeySecretRef !== undefined) env.push({ name: 'JWT_PUBLIC_KEY', valueFrom: { secretKeyRef: { ...jwt.publicKeySecretRef } } });
  if (jwt.jwksUrl !== undefined) env.push({ name: 'JWT_JWKS_URL', value: jwt.jwksUrl });
  if (jwt.issuer !== undefined) env.push({ name: 'JWT_ISSUER', value: jwt.issuer });
  if (jwt.audience !== undefined) env.push({ name: 'JWT_AUDIENCE', value: jwt.audience });
  const limits = gateway.limits ?? {};
  const limitEnv: Array<[keyof typeof limits, string]> = [
    ['maxConnections', 'MAX_CONNECTIONS'],
    ['maxDevicesPerUser', 'MAX_DEVICES_PER_USER'],
    ['maxContentBytes', 'MAX_CONTENT_BYTES'],
    ['rateLimitMessages', 'RATE_LIMIT_MESSAGES'],
    ['heartbeatTimeoutMs', 'HEARTBEAT_TIMEOUT_MS'],
  ];
  for (const [field, name] of limitEnv) {
    if (limits[field] !== undefined) env.push({ name, value: String(limits[field]) });
  }
  if (gateway.logLevel !== undefined) env.push({ name: 'LOG_LEVEL', value: gateway.logLevel });
  // Per-fleet prefixes; a variable set in spec.gateway.env is pushed below instead.
  const prefixes = fleetPrefixes(gw, spec);
  for (const [field, name] of Object.entries(PREFIX_ENV) as Array<[keyof FleetPrefixes, string]>) {
    if (!gateway.env?.some((e) => e.name === name)) env.push({ name, value: prefixes[field] });
  }
  for (const extra of gateway.env ?? []) {
    env.push(extra.valueFrom !== undefined ? { name: extra.name, valueFrom: structuredClone(extra.valueFrom) } : { name: extra.name, value: extra.value ?? '' });
  }
  return env;
}

/** The public Service: `/ws` and HTTP only. gRPC is never on it (see buildGrpcService). */
export function buildService(gw: IMGateway, spec: ResolvedIMGatewaySpec): V1Service {
  const { type, port, annotations } = spec.service;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(gw, annotations ?? {}),
    spec: {
      type,
      selector: selectorLabels(gw.metadata!.name!),
      ports: [{ name: 'http', port, targetPort: 'http' as never, protocol: 'TCP' }],
    },
  };
}

export function grpcServiceName(gw: IMGateway): string {
  return `${gw.metadata!.name!}-grpc`;
}

/**
 * gRPC for backend services inside the cluster: always ClusterIP, whatever
 * type the public Service has, and without its (load balancer) annotations.
 */
export function buildGrpcService(gw: IMGateway, spec: ResolvedIMGatewaySpec): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: metadata(gw, {}, grpcServiceName(gw)),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(gw.metadata!.name!),
      ports: [{ name: 'grpc', port: spec.service.grpcPort, targetPort: 'grpc' as never, protocol: 'TCP' }],
    },
  };
}

/** Where the operator runs, so the NetworkPolicy can let its drain calls in. */
export interface OperatorPods {
  namespace: string;
  /** Labels of the operator's pods; empty admits the operator's whole namespace. */
  labels: Record<string, string>;
}

/** The NetworkPolicy of spec.networkPolicy: HTTP from anywhere, gRPC from the fleet, the operator and named namespaces. */
export function buildNetworkPolicy(gw: IMGateway, spec: ResolvedIMGatewaySpec, operator: OperatorPods): V1NetworkPolicy {
  const name = gw.metadata!.name!;
  const byNamespace = (namespace: string): V1NetworkPolicyPeer => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } });
  const grpcFrom: V1NetworkPolicyPeer[] = [
    // Node-to-node calls: the fleet's own pods, in its namespace.
    { podSelector: { matchLabels: selectorLabels(name) } },
    { ...byNamespace(operator.namespace), podSelector: { matchLabels: operator.labels } },
    ...(spec.networkPolicy?.grpcFromNamespaces ?? []).map(byNamespace),
  ];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: metadata(gw),
    spec: {
      podSelector: { matchLabels: selectorLabels(name) },
      policyTypes: ['Ingress'],
      ingress: [
        { ports: [{ port: 'http' as never, protocol: 'TCP' }] },
        // `_from`: the client's model name for `from`, which its serializer maps back.
        { ports: [{ port: 'grpc' as never, protocol: 'TCP' }], _from: grpcFrom },
      ],
    },
  };
}

export function buildPodDisruptionBudget(gw: IMGateway, spec: ResolvedIMGatewaySpec): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: metadata(gw),
    spec: { maxUnavailable: spec.podDisruptionBudget.maxUnavailable as never, selector: { matchLabels: selectorLabels(gw.metadata!.name!) } },
  };
}
