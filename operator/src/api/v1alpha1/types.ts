/**
 * IMGateway v1alpha1: the TypeScript shape of crds/imgateway.yaml. Optional
 * fields are optional here as they are on the wire; `withDefaults` fills the
 * CRD's defaults for objects stored before a default existed.
 *
 * spec.replicas is a manual override (kubectl scale, or an external
 * autoscaler through the scale subresource): unset, the operator scales on
 * connections; set, it runs exactly that many pods, still draining the ones
 * it removes. The operator never writes it. See the comment atop the CRD.
 */
import type {
  KubernetesObject,
  V1Affinity,
  V1EnvFromSource,
  V1EnvVarSource,
  V1Toleration,
  V1TopologySpreadConstraint,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';

export const GROUP = 'imgateway.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'IMGateway';
export const LIST_KIND = 'IMGatewayList';
export const PLURAL = 'imgateways';
export const SINGULAR = 'imgateway';
export const SHORT_NAME = 'imgw';
/** `imgateway.io/paused: "true"` on an IMGateway: no scaling decision and no new drain until it is removed. */
export const PAUSE_ANNOTATION = 'imgateway.io/paused';

export interface IMGateway extends KubernetesObject {
  spec: IMGatewaySpec;
  status?: IMGatewayStatus;
}

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type IntOrString = number | string;

export interface IMGatewaySpec {
  /** Manual override of the pod count; unset means autoscale on connections. */
  replicas?: number;
  image?: string;
  imagePullPolicy?: PullPolicy;
  resources?: ResourceRequirements;
  minReplicas?: number;
  maxReplicas?: number;
  /** Pods to hold at least while not one pod's load can be read; unset: hold what runs. */
  fallbackReplicas?: number;
  targetConnectionsPerPod?: number;
  behavior?: ScalingBehavior;
  drain?: DrainSpec;
  gateway: GatewaySpec;
  service?: ServiceSpec;
  podDisruptionBudget?: PodDisruptionBudgetSpec;
  networkPolicy?: NetworkPolicySpec;
  podTemplate?: PodTemplateSpec;
}

/**
 * What the gateway pods carry besides the gateway: scheduling, identity,
 * pull secrets, volumes, variables from Secrets. Shapes are core/v1's (the
 * CRD holds a subset of each: volumes are secret, configMap or emptyDir).
 */
export interface PodTemplateSpec {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  serviceAccountName?: string;
  imagePullSecrets?: Array<{ name: string }>;
  nodeSelector?: Record<string, string>;
  affinity?: V1Affinity;
  tolerations?: V1Toleration[];
  /** Unset: spread over zones and hosts (resources/owned.ts); an empty list: no spreading. */
  topologySpreadConstraints?: V1TopologySpreadConstraint[];
  priorityClassName?: string;
  volumes?: V1Volume[];
  volumeMounts?: V1VolumeMount[];
  envFrom?: V1EnvFromSource[];
}

/** core/v1 ResourceRequirements; quantities as the API server returns them. */
export interface ResourceRequirements {
  limits?: Record<string, IntOrString>;
  requests?: Record<string, IntOrString>;
  claims?: Array<{ name: string; request?: string }>;
}

export interface ScalingBehavior {
  scaleUp?: ScalingRules;
  scaleDown?: ScalingRules;
}

/** autoscaling/v2 HPAScalingRules. */
export interface ScalingRules {
  stabilizationWindowSeconds?: number;
  selectPolicy?: SelectPolicy;
  policies?: ScalingPolicy[];
}

export type SelectPolicy = 'Max' | 'Min' | 'Disabled';

/** autoscaling/v2 HPAScalingPolicy. */
export interface ScalingPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface DrainSpec {
  timeoutSeconds?: number;
  /** Sockets closed per second by all drains of the fleet together: the fleet-wide reconnect budget. */
  closesPerSecond?: number;
  /** Pods drained at once at most. */
  maxConcurrent?: number;
}

export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface GatewaySpec {
  etcdEndpoints: string[];
  /** Exactly one of redisUrl (no password: readers of the IMGateway see it) and redisUrlSecretRef (a CEL rule in the CRD). */
  redisUrl?: string;
  redisUrlSecretRef?: SecretKeyRef;
  kafkaBrokers: string[];
  /** Exactly one of secretRef, publicKeySecretRef, jwksUrl (a CEL rule in the CRD). */
  jwt: JwtSpec;
  /** The operator reads this too, to call POST /v1/drain. */
  adminTokenSecretRef: SecretKeyRef;
  /** Comma-separated bearer tokens backend services send to IMGatewayService (GRPC_API_TOKENS). */
  grpcApiTokensSecretRef: SecretKeyRef;
  /** The nodes' shared secret on node-to-node calls (FLEET_SECRET); the operator sends it too, to close sockets on a draining pod. */
  fleetSecretRef: SecretKeyRef;
  limits?: GatewayLimits;
  logLevel?: LogLevel;
  env?: EnvVar[];
  /** Where the fleet's state sits in etcd, Redis and Kafka; unset parts derive from namespace/name (resources/prefixes.ts). */
  prefixes?: FleetPrefixSpec;
}

export interface FleetPrefixSpec {
  /** ETCD_PREFIX; default `/im-gateway/<namespace>/<name>`. */
  etcd?: string;
  /** REDIS_KEY_PREFIX; default `im:<namespace>/<name>:`. */
  redisKey?: string;
  /** Prefix of KAFKA_MESSAGES_TOPIC (`.messages`) and KAFKA_GROUP_TOPIC (`.group-messages`); default `im-gateway.<namespace>.<name>`. */
  kafkaTopic?: string;
}

export interface JwtSpec {
  secretRef?: SecretKeyRef;
  publicKeySecretRef?: SecretKeyRef;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
}

/** Unset limits keep the gateway's own defaults. */
export interface GatewayLimits {
  maxConnections?: number;
  maxDevicesPerUser?: number;
  maxContentBytes?: number;
  rateLimitMessages?: number;
  heartbeatTimeoutMs?: number;
}

export interface EnvVar {
  name: string;
  value?: string;
  /** A Secret or ConfigMap key, for settings that carry credentials. */
  valueFrom?: Pick<V1EnvVarSource, 'secretKeyRef' | 'configMapKeyRef'>;
}

export interface ServiceSpec {
  type?: ServiceType;
  port?: number;
  grpcPort?: number;
  annotations?: Record<string, string>;
}

/**
 * An operator-owned NetworkPolicy on the gateway pods: the HTTP port stays
 * open, gRPC is admitted only from the fleet's own pods, the operator and
 * the named namespaces.
 */
export interface NetworkPolicySpec {
  enabled: boolean;
  /** Namespaces whose pods may call gRPC (the backend services'). */
  grpcFromNamespaces?: string[];
}

export interface PodDisruptionBudgetSpec {
  maxUnavailable?: IntOrString;
}

export interface IMGatewayStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  desiredReplicas?: number;
  activeConnections?: number;
  drainingPods?: DrainingPod[];
  /** RFC 3339. */
  lastScaleTime?: string;
  /** Label selector in string form, for the scale subresource. */
  selector?: string;
  staleRegistryEntriesRemoved?: number;
  /** Opaque: `encodeHistory` of the autoscaler's history (scaling/desired-replicas.ts). */
  scalingHistory?: string;
  conditions?: Condition[];
}

export interface DrainingPod {
  name: string;
  /** RFC 3339; a resumed drain keeps its deadline. */
  startedAt: string;
  connectionsAtStart: number;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

/** metav1.Condition. */
export interface Condition {
  type: string;
  status: ConditionStatus;
  observedGeneration?: number;
  /** RFC 3339, whole seconds. */
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export const ConditionType = {
  /** The fleet serves: at least minReplicas pods are ready. */
  Ready: 'Ready',
  /** The fleet is moving towards desiredReplicas; the reason says what limits it. */
  Scaling: 'Scaling',
  /** Every serving pod's load was read; False says which could not be, and that they count as fully loaded. */
  ScalingActive: 'ScalingActive',
  /** Pods are being emptied before removal. */
  Draining: 'Draining',
  /** The owned objects are applied; False names any object of their names someone else controls (refused, never taken over). */
  ResourcesReady: 'ResourcesReady',
  /** The registry is reachable and holds no entries of departed pods. */
  RegistryHealthy: 'RegistryHealthy',
} as const;
export type ConditionType = (typeof ConditionType)[keyof typeof ConditionType];

/**
 * Gateway variables the operator sets from other fields or from the pod
 * itself; spec.gateway.env may not set them. The CRD's env rule lists the same.
 */
export const MANAGED_ENV = [
  'PORT',
  'GRPC_PORT',
  'NODE_ID',
  'POD_IP',
  'GRPC_ADVERTISE_ADDRESS',
  'DEV_MODE',
  'ETCD_ENDPOINTS',
  'REDIS_URL',
  'KAFKA_BROKERS',
  'JWT_SECRET',
  'JWT_PUBLIC_KEY',
  'JWT_JWKS_URL',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'ADMIN_TOKEN',
  'GRPC_API_TOKENS',
  'FLEET_SECRET',
  'MAX_CONNECTIONS',
  'MAX_DEVICES_PER_USER',
  'MAX_CONTENT_BYTES',
  'RATE_LIMIT_MESSAGES',
  'HEARTBEAT_TIMEOUT_MS',
  'LOG_LEVEL',
] as const;

export interface ResolvedScalingRules {
  stabilizationWindowSeconds: number;
  selectPolicy: SelectPolicy;
  policies: ScalingPolicy[];
}

export interface ResolvedBehavior {
  scaleUp: ResolvedScalingRules;
  scaleDown: ResolvedScalingRules;
}

/** A spec with every CRD default in place. */
export interface ResolvedIMGatewaySpec extends IMGatewaySpec {
  image: string;
  resources: ResourceRequirements;
  minReplicas: number;
  maxReplicas: number;
  targetConnectionsPerPod: number;
  behavior: ResolvedBehavior;
  drain: Required<DrainSpec>;
  service: Required<Omit<ServiceSpec, 'annotations'>> & Pick<ServiceSpec, 'annotations'>;
  podDisruptionBudget: Required<PodDisruptionBudgetSpec>;
}

/** The CRD's defaults, in one place (a test checks them against the CRD file). */
export const DEFAULTS = {
  image: 'im-gateway:latest',
  minReplicas: 2,
  maxReplicas: 10,
  targetConnectionsPerPod: 10_000,
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [
      { type: 'Percent', value: 100, periodSeconds: 15 },
      { type: 'Pods', value: 4, periodSeconds: 15 },
    ],
  },
  scaleDown: {
    stabilizationWindowSeconds: 300,
    selectPolicy: 'Max',
    policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  },
  drain: { timeoutSeconds: 300, closesPerSecond: 100, maxConcurrent: 1 },
  // No CPU limit: throttling would delay the heartbeats of every socket on the pod.
  resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } },
  service: { type: 'ClusterIP', port: 8080, grpcPort: 9093 },
  podDisruptionBudget: { maxUnavailable: 1 },
} as const;

/**
 * Fills absent fields with the CRD's defaults, as the API server would (a
 * field is defaulted only when absent; an explicit value, even an empty
 * list, is kept). Returns a copy; the input is not changed.
 */
export function withDefaults(spec: IMGatewaySpec): ResolvedIMGatewaySpec {
  const copy = structuredClone(spec);
  const behavior = copy.behavior ?? {};
  return {
    ...copy,
    image: copy.image ?? DEFAULTS.image,
    resources: copy.resources ?? structuredClone(DEFAULTS.resources) as ResourceRequirements,
    minReplicas: copy.minReplicas ?? DEFAULTS.minReplicas,
    maxReplicas: copy.maxReplicas ?? DEFAULTS.maxReplicas,
    targetConnectionsPerPod: copy.targetConnectionsPerPod ?? DEFAULTS.targetConnectionsPerPod,
    behavior: {
      scaleUp: resolveRules(behavior.scaleUp, DEFAULTS.scaleUp),
      scaleDown: resolveRules(behavior.scaleDown, DEFAULTS.scaleDown),
    },
    drain: {
      timeoutSeconds: copy.drain?.timeoutSeconds ?? DEFAULTS.drain.timeoutSeconds,
      closesPerSecond: copy.drain?.closesPerSecond ?? DEFAULTS.drain.closesPerSecond,
      maxConcurrent: copy.drain?.maxConcurrent ?? DEFAULTS.drain.maxConcurrent,
    },
    service: {
      ...copy.service,
      type: copy.service?.type ?? DEFAULTS.service.type,
      port: copy.service?.port ?? DEFAULTS.service.port,
      grpcPort: copy.service?.grpcPort ?? DEFAULTS.service.grpcPort,
    },
    podDisruptionBudget: {
      maxUnavailable: copy.podDisruptionBudget?.maxUnavailable ?? DEFAULTS.podDisruptionBudget.maxUnavailable,
    },
  };
}

function resolveRules(
  rules: ScalingRules | undefined,
  defaults: { stabilizationWindowSeconds: number; selectPolicy: SelectPolicy; policies: readonly ScalingPolicy[] },
): ResolvedScalingRules {
  return {
    stabilizationWindowSeconds: rules?.stabilizationWindowSeconds ?? defaults.stabilizationWindowSeconds,
    selectPolicy: rules?.selectPolicy ?? defaults.selectPolicy,
    policies: rules?.policies ?? defaults.policies.map((p) => ({ ...p })),
  };
}
