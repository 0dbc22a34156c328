/**
 * crds/imgateway.yaml without an API server: it parses, its schema is
 * structural, its defaults satisfy their own schema and match withDefaults.
 * CEL rules are only checked for shape here; a test against a real API
 * server evaluates them.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { GROUP, KIND, LIST_KIND, MANAGED_ENV, PLURAL, SHORT_NAME, SINGULAR, VERSION, withDefaults, type IMGatewaySpec } from '../src/api/v1alpha1/types.ts';

interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  format?: string;
  anyOf?: Schema[];
  allOf?: Schema[];
  oneOf?: Schema[];
  not?: Schema;
  nullable?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: Array<{ rule?: string; message?: string; messageExpression?: string }>;
}

const CRD_PATH = new URL('../../crds/imgateway.yaml', import.meta.url);
const documents = parseAllDocuments(readFileSync(CRD_PATH, 'utf8'));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const crd = documents[0]?.toJS() as any;
const version = crd.spec.versions[0];
const root = version.schema.openAPIV3Schema as Schema;
const spec = root.properties!.spec!;
const status = root.properties!.status!;

const minimalSpec: IMGatewaySpec = {
  gateway: {
    etcdEndpoints: ['http://etcd-0.etcd:2379', 'http://etcd-1.etcd:2379'],
    redisUrl: 'redis://redis:6379/0',
    kafkaBrokers: ['kafka-0.kafka:9092'],
    jwt: { jwksUrl: 'https://auth.example/.well-known/jwks.json' },
    adminTokenSecretRef: { name: 'im-gateway-admin', key: 'token' },
    grpcApiTokensSecretRef: { name: 'grpc-api', key: 'tokens' },
    fleetSecretRef: { name: 'fleet', key: 'secret' },
  },
};

/** Every schema node with its path, junctors included. */
function* walk(schema: Schema, path: string, inJunctor = false): Generator<[string, Schema, boolean]> {
  yield [path, schema, inJunctor];
  for (const [name, child] of Object.entries(schema.properties ?? {})) yield* walk(child, `${path}.${name}`, inJunctor);
  if (typeof schema.additionalProperties === 'object') yield* walk(schema.additionalProperties, `${path}[*]`, inJunctor);
  if (schema.items !== undefined) yield* walk(schema.items, `${path}[]`, inJunctor);
  for (const key of ['anyOf', 'allOf', 'oneOf'] as const) {
    for (const [i, child] of (schema[key] ?? []).entries()) yield* walk(child, `${path}.${key}[${i}]`, true);
  }
  if (schema.not !== undefined) yield* walk(schema.not, `${path}.not`, true);
}

const isIntOrStringPattern = (schema: Schema): boolean =>
  schema['x-kubernetes-int-or-string'] === true &&
  JSON.stringify(schema.anyOf) === JSON.stringify([{ type: 'integer' }, { type: 'string' }]);

/** The API server's structural defaulting: a default fills an absent field, then defaults inside it apply. */
function applyDefaults(schema: Schema, value: unknown): unknown {
  if (Array.isArray(value)) {
    if (schema.items !== undefined) value.forEach((item) => applyDefaults(schema.items!, item));
  } else if (typeof value === 'object' && value !== null) {
    const object = value as Record<string, unknown>;
    for (const [name, child] of Object.entries(schema.properties ?? {})) {
      if (!(name in object) && child.default !== undefined) object[name] = structuredClone(child.default);
      if (name in object) applyDefaults(child, object[name]);
    }
    if (typeof schema.additionalProperties === 'object') {
      for (const item of Object.values(object)) applyDefaults(schema.additionalProperties, item);
    }
  }
  return value;
}

const INT_RANGES: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
};

/** OpenAPI value validation as the API server applies it (not CEL). Returns the problems found. */
function validate(schema: Schema, value: unknown, path = 'self'): string[] {
  const problems: string[] = [];
  const fail = (what: string) => problems.push(`${path}: ${what}`);
  const intOrString = schema['x-kubernetes-int-or-string'] === true;
  const type = intOrString ? (Number.isInteger(value) ? 'integer' : typeof value === 'string' ? 'string' : 'invalid') : schema.type;
  switch (type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: not an object`];
      const object = value as Record<string, unknown>;
      for (const name of schema.required ?? []) if (!(name in object)) fail(`missing required ${name}`);
      for (const [name, item] of Object.entries(object)) {
        const child = schema.properties?.[name] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
        if (child === undefined) {
          if (schema['x-kubernetes-preserve-unknown-fields'] !== true && path !== 'self.metadata') fail(`unknown field ${name} (would be pruned)`);
        } else problems.push(...validate(child, item, `${path}.${name}`));
      }
      break;
    }
    case 'array': {
      if (!Array.isArray(value)) return [`${path}: not an array`];
      if (schema.minItems !== undefined && value.length < schema.minItems) fail(`fewer than ${schema.minItems} items`);
      if (schema.maxItems !== undefined && value.length > schema.maxItems) fail(`more than ${schema.maxItems} items`);
      value.forEach((item, i) => problems.push(...validate(schema.items!, item, `${path}[${i}]`)));
      const keys = schema['x-kubernetes-list-map-keys'];
      if (keys !== undefined) {
        const seen = new Set(value.map((item) => JSON.stringify(keys.map((k) => (item as Record<string, unknown>)[k]))));
        if (seen.size !== value.length) fail('duplicate list-map keys');
      }
      break;
    }
    case 'string': {
      if (typeof value !== 'string') return [`${path}: not a string`];
      const length = Array.from(value).length;
      if (schema.minLength !== undefined && length < schema.minLength) fail(`shorter than ${schema.minLength}`);
      if (schema.maxLength !== undefined && length > schema.maxLength) fail(`longer than ${schema.maxLength}`);
      if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) fail(`does not match ${schema.pattern}`);
      if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) fail('not a date-time');
      break;
    }
    case 'integer': {
      if (!Number.isInteger(value)) return [`${path}: not an integer`];
      const n = value as number;
      const range = INT_RANGES[schema.format ?? 'int64'];
      if (range !== undefined && (n < range[0] || n > range[1])) fail(`out of ${schema.format} range`);
      if (schema.minimum !== undefined && n < schema.minimum) fail(`below minimum ${schema.minimum}`);
      if (schema.maximum !== undefined && n > schema.maximum) fail(`above maximum ${schema.maximum}`);
      break;
    }
    case 'boolean':
      if (typeof value !== 'boolean') fail('not a boolean');
      break;
    default:
      fail(`value ${JSON.stringify(value)} does not fit type ${schema.type ?? 'int-or-string'}`);
  }
  if (schema.enum !== undefined && !schema.enum.includes(value)) fail(`not one of ${schema.enum.join(', ')}`);
  return problems;
}

function object(body: Record<string, unknown>): Record<string, unknown> {
  return applyDefaults(root, {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: KIND,
    metadata: { name: 'chat', namespace: 'im' },
    ...body,
  }) as Record<string, unknown>;
}

describe('the CRD file', () => {
  it('is one YAML document without parse errors or warnings', () => {
    expect(documents).toHaveLength(1);
    expect(documents[0]?.errors).toEqual([]);
    expect(documents[0]?.warnings).toEqual([]);
  });

  it('defines IMGateway in imgateway.io/v1alpha1, namespaced, served and stored', () => {
    expect(crd).toMatchObject({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${PLURAL}.${GROUP}` },
      spec: {
        group: GROUP,
        scope: 'Namespaced',
        names: { kind: KIND, listKind: LIST_KIND, plural: PLURAL, singular: SINGULAR, shortNames: [SHORT_NAME] },
      },
    });
    expect(crd.spec.versions).toHaveLength(1);
    expect(version).toMatchObject({ name: VERSION, served: true, storage: true });
  });

  it('has the status subresource and a scale subresource whose paths exist in the schema', () => {
    expect(version.subresources.status).toEqual({});
    expect(version.subresources.scale).toEqual({
      specReplicasPath: '.spec.replicas',
      statusReplicasPath: '.status.replicas',
      labelSelectorPath: '.status.selector',
    });
    expect(spec.properties?.replicas).toMatchObject({ type: 'integer', minimum: 1 });
    expect(spec.properties?.replicas?.default).toBeUndefined();
    expect(status.properties?.replicas?.type).toBe('integer');
    expect(status.properties?.selector?.type).toBe('string');
  });

  it('prints Replicas, Ready, Desired, Connections and Age from fields of the schema', () => {
    const columns = version.additionalPrinterColumns as Array<{ name: string; type: string; jsonPath: string }>;
    expect(columns.map((c) => c.name)).toEqual(['Replicas', 'Ready', 'Desired', 'Connections', 'Age']);
    for (const column of columns.filter((c) => c.jsonPath.startsWith('.status.'))) {
      const field = status.properties?.[column.jsonPath.slice('.status.'.length)];
      expect(field?.type, column.name).toBe(column.type);
    }
    expect(columns.at(-1)).toMatchObject({ type: 'date', jsonPath: '.metadata.creationTimestamp' });
  });
});

describe('the schema is structural', () => {
  const nodes = [...walk(root, 'root')];

  it('gives every field a type, unless it is int-or-string', () => {
    const untyped = nodes.filter(([, s, inJunctor]) => !inJunctor && s.type === undefined && s['x-kubernetes-int-or-string'] !== true);
    expect(untyped.map(([path]) => path)).toEqual([]);
  });

  it('sets no type, default, description or nullable inside anyOf/allOf/oneOf/not, but for the int-or-string pattern', () => {
    const offending = nodes.filter(([path, s, inJunctor]) => {
      if (!inJunctor) return false;
      const owner = nodes.find(([p]) => path.startsWith(`${p}.anyOf[`) && !path.slice(p.length + 7).includes('.'));
      if (owner !== undefined && isIntOrStringPattern(owner[1])) return false;
      return s.type !== undefined || s.default !== undefined || s.description !== undefined || s.nullable !== undefined;
    });
    expect(offending.map(([path]) => path)).toEqual([]);
  });

  it('uses the exact int-or-string pattern wherever x-kubernetes-int-or-string is set', () => {
    const intOrString = nodes.filter(([, s]) => s['x-kubernetes-int-or-string'] === true);
    expect(intOrString.length).toBeGreaterThanOrEqual(3);
    for (const [path, s] of intOrString) expect(isIntOrStringPattern(s), path).toBe(true);
  });

  it('preserves unknown fields nowhere: everything has a real schema', () => {
    expect(nodes.filter(([, s]) => s['x-kubernetes-preserve-unknown-fields'] === true).map(([p]) => p)).toEqual([]);
  });

  it('restricts nothing under metadata', () => {
    expect(root.properties?.metadata).toEqual({ type: 'object' });
  });

  it('makes the keys of every map-list required, as the API server demands', () => {
    const maps = nodes.filter(([, s]) => s['x-kubernetes-list-type'] === 'map');
    expect(maps.map(([p]) => p).sort()).toEqual(
      ['root.spec.gateway.env', 'root.spec.resources.claims', 'root.status.conditions', 'root.status.drainingPods'].sort(),
    );
    for (const [path, s] of maps) {
      for (const key of s['x-kubernetes-list-map-keys'] ?? []) expect(s.items?.required, `${path} key ${key}`).toContain(key);
    }
  });

  it('gives every CEL rule a message, and bounds the lists and strings the rules walk', () => {
    const rules = nodes.flatMap(([path, s]) => (s['x-kubernetes-validations'] ?? []).map((v) => ({ path, ...v })));
    expect(rules.length).toBeGreaterThanOrEqual(7);
    for (const rule of rules) {
      expect(rule.rule, rule.path).toBeTruthy();
      expect(rule.message, rule.path).toMatch(/\w+ \w+/);
    }
    const env = spec.properties!.gateway!.properties!.env!;
    expect(env.maxItems).toBeDefined();
    expect(env.items?.properties?.name?.maxLength).toBeDefined();
  });

  it('compiles every pattern', () => {
    for (const [path, s] of nodes) if (s.pattern !== undefined) expect(() => new RegExp(s.pattern!, 'u'), path).not.toThrow();
  });
});

describe('the CRD rules', () => {
  const specRules = (spec['x-kubernetes-validations'] ?? []).map((v) => v.rule);

  it('keep minReplicas at or below maxReplicas, with a clear message', () => {
    expect(spec['x-kubernetes-validations']).toContainEqual({
      rule: 'self.minReplicas <= self.maxReplicas',
      message: 'minReplicas must not exceed maxReplicas',
    });
  });

  it('keep a manual replicas count within [minReplicas, maxReplicas]', () => {
    expect(specRules.some((r) => r?.includes('self.replicas >= self.minReplicas') && r.includes('self.replicas <= self.maxReplicas'))).toBe(true);
  });

  it('require exactly one JWT key source', () => {
    const jwt = spec.properties!.gateway!.properties!.jwt!;
    expect(jwt['x-kubernetes-validations']?.[0]?.rule).toBe(
      '[has(self.secretRef), has(self.publicKeySecretRef), has(self.jwksUrl)].filter(x, x).size() == 1',
    );
  });

  it('guard with has() the fields they read on an object defaulted to {}, which the API server checks bare', () => {
    for (const [path, s] of walk(root, 'root')) {
      if (typeof s.default !== 'object' || s.default === null) continue;
      for (const { rule = '' } of s['x-kubernetes-validations'] ?? []) {
        for (const [, field] of rule.matchAll(/self\.(\w+)/g)) {
          if (!(field! in s.default)) expect(rule, `${path}: ${field}`).toContain(`has(self.${field})`);
        }
      }
    }
  });

  it('forbid in env exactly the variables the operator manages', () => {
    const rule = spec.properties!.gateway!.properties!.env!['x-kubernetes-validations']?.[0]?.rule ?? '';
    const listed = [...rule.matchAll(/'([A-Z_]+)'/g)].map((m) => m[1]);
    expect(listed).toEqual([...MANAGED_ENV]);
  });

  it('manage only variables the gateway reads', async () => {
    const { VARIABLES } = await import('../../gateway/src/config/config.ts');
    const known = new Set<string>([...VARIABLES.map(([name]) => name), 'POD_IP']);
    expect(MANAGED_ENV.filter((name) => !known.has(name))).toEqual([]);
  });
});

describe('the defaults', () => {
  it('satisfy their own schema', () => {
    for (const [path, s] of walk(root, 'root')) {
      if (s.default === undefined) continue;
      expect(validate(s, structuredClone(s.default), path)).toEqual([]);
      expect(validate(s, applyDefaults(s, structuredClone(s.default)), path)).toEqual([]);
    }
  });

  it('turn a minimal spec into a valid object', () => {
    expect(validate(root, object({ spec: structuredClone(minimalSpec) }))).toEqual([]);
  });

  it('are the ones withDefaults fills', () => {
    const specs: IMGatewaySpec[] = [
      minimalSpec,
      { ...minimalSpec, behavior: {} },
      { ...minimalSpec, behavior: { scaleUp: { stabilizationWindowSeconds: 30 } } },
      { ...minimalSpec, behavior: { scaleDown: { policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } }, drain: { timeoutSeconds: 30 } },
      { ...minimalSpec, service: { annotations: { a: 'b' } }, podDisruptionBudget: {}, minReplicas: 1, replicas: 3 },
      { ...minimalSpec, podDisruptionBudget: { maxUnavailable: '50%' }, service: { type: 'NodePort', port: 80 } },
    ];
    for (const s of specs) {
      const byServer = (object({ spec: structuredClone(s) }) as { spec: unknown }).spec;
      expect(withDefaults(s)).toEqual(byServer);
    }
  });
});

describe('the schema accepts and rejects', () => {
  const full: IMGatewaySpec = {
    replicas: 4,
    image: 'registry.example/im-gateway:1.4.0',
    imagePullPolicy: 'IfNotPresent',
    resources: { requests: { cpu: '500m', memory: '512Mi' }, limits: { cpu: 2, memory: '1Gi' } },
    minReplicas: 3,
    maxReplicas: 50,
    targetConnectionsPerPod: 20_000,
    behavior: {
      scaleUp: { stabilizationWindowSeconds: 30, selectPolicy: 'Max', policies: [{ type: 'Pods', value: 10, periodSeconds: 60 }] },
      scaleDown: { stabilizationWindowSeconds: 600, selectPolicy: 'Min', policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }] },
    },
    drain: { timeoutSeconds: 600, closesPerSecond: 200 },
    gateway: {
      ...minimalSpec.gateway,
      jwt: { secretRef: { name: 'jwt', key: 'hs256' }, issuer: 'https://auth.example', audience: 'chat' },
      limits: { maxConnections: 50_000, maxDevicesPerUser: 3, maxContentBytes: 4096, rateLimitMessages: 60, heartbeatTimeoutMs: 60_000 },
      logLevel: 'warn',
      env: [{ name: 'ALLOWED_ORIGINS', value: 'https://chat.example' }, { name: 'KAFKA_REPLICATION_FACTOR', value: '3' }],
      prefixes: { etcd: '/im-gateway', redisKey: 'im:', kafkaTopic: 'im-gateway' },
    },
    service: { type: 'LoadBalancer', port: 443, grpcPort: 9093, annotations: { 'service.beta.kubernetes.io/aws-load-balancer-internal': 'true' } },
    podDisruptionBudget: { maxUnavailable: '25%' },
    networkPolicy: { enabled: true, grpcFromNamespaces: ['chat-backend'] },
    podTemplate: {
      labels: { team: 'chat' },
      annotations: { 'prometheus.io/scrape': 'true' },
      serviceAccountName: 'chat-gateway',
      imagePullSecrets: [{ name: 'registry-creds' }],
      nodeSelector: { 'node.example/pool': 'edge' },
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'arch', operator: 'In', values: ['amd64'] }] }] },
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: 'spot', operator: 'DoesNotExist' }] } }],
        },
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'x' } } } }],
        },
      },
      tolerations: [{ key: 'edge', operator: 'Equal', value: 'true', effect: 'NoSchedule' }, { operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }],
      topologySpreadConstraints: [{ maxSkew: 2, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', matchLabelKeys: ['pod-template-hash'] }],
      priorityClassName: 'user-facing',
      volumes: [{ name: 'tls', secret: { secretName: 'chat-tls', defaultMode: 0o440 } }, { name: 'ca', configMap: { name: 'ca-bundle' } }, { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } }],
      volumeMounts: [{ name: 'tls', mountPath: '/etc/im-gateway/tls', readOnly: true }],
      envFrom: [{ prefix: 'X_', configMapRef: { name: 'extra' } }, { secretRef: { name: 'extra-secret', optional: true } }],
    },
  };

  it('accepts a spec using every field', () => {
    expect(validate(root, object({ spec: structuredClone(full) }))).toEqual([]);
  });

  it('accepts a full status', () => {
    const body = {
      spec: structuredClone(minimalSpec),
      status: {
        observedGeneration: 7,
        replicas: 5,
        readyReplicas: 4,
        desiredReplicas: 4,
        activeConnections: 38_211,
        drainingPods: [{ name: 'chat-7d9f-abcde', startedAt: '2026-01-01T00:00:00Z', connectionsAtStart: 212 }],
        lastScaleTime: '2026-01-01T00:00:00Z',
        selector: 'app.kubernetes.io/name=im-gateway,app.kubernetes.io/instance=chat',
        staleRegistryEntriesRemoved: 12,
        scalingHistory: '{"v":1,"r":[],"u":[],"d":[]}',
        conditions: [
          { type: 'Ready', status: 'True', observedGeneration: 7, lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'MinimumReplicasReady', message: '4 of 4' },
          { type: 'Scaling', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'ScaleDownStabilized', message: '' },
        ],
      },
    };
    expect(validate(root, object(body))).toEqual([]);
  });

  const invalid: Array<[string, (s: IMGatewaySpec) => void]> = [
    ['an unknown pull policy', (s) => void (s.imagePullPolicy = 'Sometimes' as never)],
    ['minReplicas 0', (s) => void (s.minReplicas = 0)],
    ['targetConnectionsPerPod 0', (s) => void (s.targetConnectionsPerPod = 0)],
    ['a scale-down window over an hour', (s) => void (s.behavior!.scaleDown!.stabilizationWindowSeconds = 3601)],
    ['a policy period over 1800 s', (s) => void (s.behavior!.scaleUp!.policies![0]!.periodSeconds = 1801)],
    ['a policy value of 0', (s) => void (s.behavior!.scaleUp!.policies![0]!.value = 0)],
    ['an unknown policy type', (s) => void (s.behavior!.scaleUp!.policies![0]!.type = 'Cores' as never)],
    ['an unknown selectPolicy', (s) => void (s.behavior!.scaleUp!.selectPolicy = 'Average' as never)],
    ['an empty policy list', (s) => void (s.behavior!.scaleUp!.policies = [])],
    ['no etcd endpoints', (s) => void (s.gateway.etcdEndpoints = [])],
    ['an etcd endpoint with a comma', (s) => void (s.gateway.etcdEndpoints = ['a:2379,b:2379'])],
    ['a Kafka broker without a port', (s) => void (s.gateway.kafkaBrokers = ['kafka'])],
    ['a Redis URL of another scheme', (s) => void (s.gateway.redisUrl = 'http://redis:6379')],
    ['a Secret name with capitals', (s) => void (s.gateway.adminTokenSecretRef.name = 'Admin')],
    ['no fleet secret', (s) => void delete (s.gateway as Partial<typeof s.gateway>).fleetSecretRef],
    ['no gRPC API tokens', (s) => void delete (s.gateway as Partial<typeof s.gateway>).grpcApiTokensSecretRef],
    ['a network policy without enabled', (s) => void delete (s.networkPolicy as Partial<NonNullable<typeof s.networkPolicy>>).enabled],
    ['a gRPC namespace that is no namespace name', (s) => void (s.networkPolicy!.grpcFromNamespaces = ['Chat_Backend'])],
    ['a heartbeat under 100 ms', (s) => void (s.gateway.limits = { heartbeatTimeoutMs: 99 })],
    ['an unknown log level', (s) => void (s.gateway.logLevel = 'trace' as never)],
    ['an env name that is no variable name', (s) => void (s.gateway.env = [{ name: 'MY-VAR', value: '1' }])],
    ['the same env variable twice', (s) => void (s.gateway.env = [{ name: 'A', value: '1' }, { name: 'A', value: '2' }])],
    ['port 0', (s) => void (s.service!.port = 0)],
    ['an unknown Service type', (s) => void (s.service!.type = 'ExternalName' as never)],
    ['maxUnavailable as a word', (s) => void (s.podDisruptionBudget!.maxUnavailable = 'one')],
    ['maxUnavailable over 100%', (s) => void (s.podDisruptionBudget!.maxUnavailable = '101%')],
    ['a resource quantity that is not one', (s) => void (s.resources!.limits!.memory = 'lots')],
    ['an unknown field', (s) => void ((s as unknown as Record<string, unknown>).replica = 3)],
    ['an unknown toleration effect', (s) => void (s.podTemplate!.tolerations = [{ key: 'a', effect: 'Evict' }])],
    ['a spread constraint without a topology key', (s) => void delete (s.podTemplate!.topologySpreadConstraints![0] as { topologyKey?: string }).topologyKey],
    ['an unknown whenUnsatisfiable', (s) => void (s.podTemplate!.topologySpreadConstraints![0]!.whenUnsatisfiable = 'Maybe')],
    ['a pull secret without a name', (s) => void (s.podTemplate!.imagePullSecrets = [{} as { name: string }])],
    ['a volume of a kind the template does not hold', (s) => void (s.podTemplate!.volumes = [{ name: 'host', hostPath: { path: '/' } }])],
    ['a volume mount at a relative path', (s) => void (s.podTemplate!.volumeMounts = [{ name: 'tls', mountPath: 'tls' }])],
    ['a node affinity weight over 100', (s) => void (s.podTemplate!.affinity!.nodeAffinity!.preferredDuringSchedulingIgnoredDuringExecution![0]!.weight = 101)],
    ['a Kafka topic prefix with a slash', (s) => void (s.gateway.prefixes = { kafkaTopic: 'a/b' })],
  ];

  for (const [what, spoil] of invalid) {
    it(`rejects ${what}`, () => {
      const s = structuredClone(full);
      spoil(s);
      expect(validate(root, object({ spec: s }))).not.toEqual([]);
    });
  }

  it('rejects a status condition with an unknown status or a reason with spaces', () => {
    const condition = { type: 'Ready', status: 'Maybe', lastTransitionTime: '2026-01-01T00:00:00Z', reason: 'All good', message: '' };
    expect(validate(root, object({ spec: structuredClone(minimalSpec), status: { conditions: [condition] } }))).toHaveLength(2);
  });
});
