/**
 * The Helm chart, rendered by the real helm binary and read back as objects:
 * it lints clean, grants the operator no more than it uses, runs it locked
 * down, keeps its CRD copy identical to crds/imgateway.yaml, and its values
 * schema refuses what it should.
 *
 * helm comes from HELM_BIN, else from the cache e2e/k8s/build-tools.sh fills
 * ($IMGW_CACHE_DIR/helm/<IMGW_HELM_VERSION>/bin/helm).
 *
 * values.schema.json checks an enabled fleet's spec against a copy of the
 * CRD's spec schema; after a CRD change, regenerate that copy with
 *   IMGW_UPDATE_CHART_SCHEMA=1 npx vitest run charts/test
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { MANAGED_BY, fleetLabels } from '../../operator/src/resources/labels.ts';
import { OperatorMetrics } from '../../operator/src/health/metrics.ts';
import { GatewayMetrics } from '../../gateway/src/observability/metrics.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CHART = join(ROOT, 'charts/im-gateway');
const REPO_CRD = join(ROOT, 'crds/imgateway.yaml');
const CHART_CRD = join(CHART, 'crds/imgateway.yaml');
const SCHEMA_FILE = join(CHART, 'values.schema.json');
const RELEASE = 'r1';
const NAMESPACE = 'imgw-system';
const OPERATOR = `${RELEASE}-im-gateway-operator`;
/** Cluster-scoped objects carry the release namespace: two releases of one name in two namespaces must not collide. */
const CLUSTER_OPERATOR = `${RELEASE}-im-gateway-${NAMESPACE}-operator`;

// Enough for the CRD's required fields; the Secrets need not exist to render.
const FLEET = [
  '--set', 'fleet.enabled=true',
  '--set', 'fleet.spec.maxReplicas=20',
  '--set', 'fleet.spec.gateway.etcdEndpoints={http://etcd:2379}',
  '--set', 'fleet.spec.gateway.redisUrl=redis://redis:6379',
  '--set', 'fleet.spec.gateway.kafkaBrokers={kafka:9092}',
  '--set', 'fleet.spec.gateway.jwt.secretRef.name=jwt',
  '--set', 'fleet.spec.gateway.jwt.secretRef.key=secret',
  '--set', 'fleet.spec.gateway.adminTokenSecretRef.name=admin',
  '--set', 'fleet.spec.gateway.adminTokenSecretRef.key=token',
  '--set', 'fleet.spec.gateway.grpcApiTokensSecretRef.name=grpc',
  '--set', 'fleet.spec.gateway.grpcApiTokensSecretRef.key=tokens',
  '--set', 'fleet.spec.gateway.fleetSecretRef.name=fleet',
  '--set', 'fleet.spec.gateway.fleetSecretRef.key=secret',
];
const SINGLE_NAMESPACE = ['--set', 'operator.scope=Namespace', '--set', 'operator.watchNamespace=chat'];

interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  verbs: string[];
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  data?: Record<string, string>;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // Rendered specs are checked field by field below; their full types would add nothing.
  spec?: any;
  rules?: PolicyRule[];
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
}

function helmBin(): string {
  if (process.env.HELM_BIN) return process.env.HELM_BIN;
  const env = readFileSync(join(ROOT, 'e2e/k8s/versions.env'), 'utf8');
  const version = process.env.IMGW_HELM_VERSION || /^IMGW_HELM_VERSION=(\S+)$/m.exec(env)?.[1];
  const cache = process.env.IMGW_CACHE_DIR || '/var/cache/im-gateway-fleet';
  const bin = join(cache, 'helm', version ?? 'unknown', 'bin', 'helm');
  if (!existsSync(bin)) {
    throw new Error(`no helm at ${bin}: build it with 'bash e2e/k8s/build-tools.sh helm', or set HELM_BIN`);
  }
  return bin;
}

const HELM = helmBin();

/** promtool from Debian's prometheus package (e2e/infra/setup.sh installs it). */
function promtoolBin(): string {
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir !== '' && existsSync(join(dir, 'promtool'))) return join(dir, 'promtool');
  throw new Error('promtool not found: run `npm run e2e:setup` (it installs the prometheus package), or apt-get install prometheus');
}

async function helm(args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout, stderr } = await run(HELM, args, { maxBuffer: 32 * 1024 * 1024 });
    return { ok: true, out: stdout + stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? e.message}` };
  }
}

/** `helm template` of the chart, as objects; CRDs included, as `helm install` would apply them. */
async function render(args: string[] = []): Promise<K8sObject[]> {
  const { ok, out } = await helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, '--include-crds', ...args]);
  if (!ok) throw new Error(`helm template failed:\n${out}`);
  return parseAllDocuments(out)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

/** The error of a `helm template` expected to fail. */
async function renderError(args: string[]): Promise<string> {
  const { ok, out } = await helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, ...args]);
  expect(ok, `helm template ${args.join(' ')} should fail`).toBe(false);
  return out;
}

function find(objects: K8sObject[], kind: string, name?: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

function one(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = find(objects, kind, name);
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0]!;
}

/** Rules as "group/resource[:names]" -> sorted verbs, so a grant can be compared whole. */
function grants(rules: PolicyRule[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const rule of rules) {
    for (const group of rule.apiGroups ?? []) {
      for (const resource of rule.resources ?? []) {
        const key = `${group || 'core'}/${resource}${rule.resourceNames ? `:${[...rule.resourceNames].sort().join(',')}` : ''}`;
        out[key] = [...new Set([...(out[key] ?? []), ...rule.verbs])].sort();
      }
    }
  }
  return out;
}

const sorted = (verbs: string[]) => [...verbs].sort();
const READ = sorted(['get', 'list', 'watch']);

/**
 * Exactly the calls the operator makes, and nothing more: no wildcards, no
 * delete but of a turned-off NetworkPolicy and of the exact pod it drained
 * (garbage collection removes what an IMGateway owns), Secrets
 * by get only. A new API call in operator/src needs its rule in rbac.yaml and here.
 */
const OPERATOR_GRANTS = {
  'imgateway.io/imgateways': READ,
  'imgateway.io/imgateways/status': sorted(['get', 'patch']),
  'imgateway.io/imgateways/finalizers': ['update'],
  'apps/deployments': sorted(['get', 'list', 'watch', 'create', 'patch']),
  'core/services': sorted(['get', 'create', 'patch']),
  'policy/poddisruptionbudgets': sorted(['get', 'create', 'patch']),
  'networking.k8s.io/networkpolicies': sorted(['get', 'create', 'patch', 'delete']),
  'core/pods': sorted(['get', 'list', 'watch', 'patch', 'delete']),
  'core/events': ['create'],
  'core/secrets': ['get'],
};
/** In Cluster scope: what the ClusterRole grants everywhere (no Secret, no pod write) ... */
const CLUSTER_GRANTS = { ...OPERATOR_GRANTS, 'core/pods': READ } as Record<string, string[]>;
delete CLUSTER_GRANTS['core/secrets'];
/** ... and what a Role grants in each fleet namespace. */
const FLEET_NAMESPACE_GRANTS = { 'core/pods': sorted(['patch', 'delete']), 'core/secrets': ['get'] };

// ---------------------------------------------------------------------------
// The CRD's spec schema as JSON Schema, for values.schema.json's fleet.spec.

type Schema = Record<string, unknown>;

/**
 * Kubernetes' structural schema to JSON Schema: drops the x-kubernetes-*
 * extensions (CEL rules included: the API server still checks those) and
 * closes every object that lists its properties, so a misspelt key fails
 * `helm install` rather than being pruned by the API server without a word.
 */
function toJsonSchema(schema: Schema): Schema {
  const out: Schema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key.startsWith('x-kubernetes-')) continue;
    if (key === 'properties') {
      out[key] = Object.fromEntries(Object.entries(value as Record<string, Schema>).map(([k, v]) => [k, toJsonSchema(v)]));
    } else if (key === 'items' || key === 'not' || (key === 'additionalProperties' && typeof value === 'object')) {
      out[key] = toJsonSchema(value as Schema);
    } else if (key === 'anyOf' || key === 'allOf' || key === 'oneOf') {
      out[key] = (value as Schema[]).map(toJsonSchema);
    } else {
      out[key] = value;
    }
  }
  if (out.properties !== undefined && out.additionalProperties === undefined && schema['x-kubernetes-preserve-unknown-fields'] !== true) {
    out.additionalProperties = false;
  }
  return out;
}

function crdSpecSchema(crdText: string): Schema {
  const crd = parseYaml(crdText) as { spec: { versions: Array<{ name: string; schema: { openAPIV3Schema: Schema } }> } };
  const version = crd.spec.versions.find((v) => v.name === 'v1alpha1')!;
  const spec = (version.schema.openAPIV3Schema.properties as Record<string, Schema>).spec!;
  return toJsonSchema(spec);
}

// ---------------------------------------------------------------------------

describe('the im-gateway chart', () => {
  it('passes helm lint --strict with default values, a fleet, ServiceMonitors and single-namespace mode', async () => {
    for (const args of [[], FLEET, ['--set', 'serviceMonitor.enabled=true'], SINGLE_NAMESPACE, [...SINGLE_NAMESPACE, ...FLEET]]) {
      const { ok, out } = await helm(['lint', '--strict', CHART, '--namespace', NAMESPACE, ...args]);
      expect(ok, out).toBe(true);
    }
  });

  it('renders by default the CRD, the operator, its RBAC and metrics Service, without a fleet or ServiceMonitor', async () => {
    const objects = await render();
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual(
      [
        'CustomResourceDefinition/imgateways.imgateway.io',
        `ClusterRole/${CLUSTER_OPERATOR}`,
        `ClusterRoleBinding/${CLUSTER_OPERATOR}`,
        `ClusterRole/${RELEASE}-im-gateway-${NAMESPACE}-view`,
        `ClusterRole/${RELEASE}-im-gateway-${NAMESPACE}-edit`,
        `Role/${OPERATOR}-leader-election`,
        `RoleBinding/${OPERATOR}-leader-election`,
        `ServiceAccount/${OPERATOR}`,
        `Deployment/${OPERATOR}`,
        `Service/${OPERATOR}-metrics`,
        `PodDisruptionBudget/${OPERATOR}`,
      ].sort(),
    );
    for (const o of objects.filter((o) => !o.kind.startsWith('Cluster') && o.kind !== 'CustomResourceDefinition')) {
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NAMESPACE);
    }
  });

  it('labels every object it renders with the Kubernetes recommended labels', async () => {
    const objects = (await render([...FLEET, '--set', 'serviceMonitor.enabled=true'])).filter(
      (o) => o.kind !== 'CustomResourceDefinition',
    );
    for (const o of objects) {
      const labels = o.metadata.labels ?? {};
      for (const key of ['name', 'instance', 'version', 'component', 'part-of', 'managed-by']) {
        expect(labels[`app.kubernetes.io/${key}`], `${o.kind}/${o.metadata.name} app.kubernetes.io/${key}`).toBeTruthy();
      }
      expect(labels['app.kubernetes.io/managed-by']).toBe('Helm');
      expect(labels['helm.sh/chart']).toBe('im-gateway-0.1.0');
    }
  });

  it('keeps names and label values within their limits for the longest release name Helm allows', async () => {
    const release = 'r'.repeat(53);
    const { ok, out } = await helm(['template', release, CHART, '--namespace', NAMESPACE, ...FLEET, '--set', 'serviceMonitor.enabled=true']);
    expect(ok, out).toBe(true);
    const objects = parseAllDocuments(out).map((doc) => doc.toJS() as K8sObject);
    for (const o of objects) {
      // Services and the pods' Deployment are DNS labels; the rest allow 253.
      const limit = o.kind === 'Service' || o.kind === 'Deployment' ? 63 : 253;
      expect(o.metadata.name.length, `${o.kind}/${o.metadata.name}`).toBeLessThanOrEqual(limit);
      for (const [key, value] of Object.entries(o.metadata.labels ?? {})) {
        expect(value.length, `${o.kind}/${o.metadata.name} label ${key}`).toBeLessThanOrEqual(63);
      }
    }
  });

  it('runs the operator from the shared image with its command, settings, probes and two replicas', async () => {
    const deployment = one(await render(), 'Deployment', OPERATOR);
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe(OPERATOR);
    const [container, ...others] = pod.containers;
    expect(others).toEqual([]);
    expect(container.image).toBe('im-gateway:0.1.0');
    expect(container.command).toEqual(['node', 'operator/src/main.ts']);
    const env = Object.fromEntries(
      (container.env as Array<{ name: string; value?: string; valueFrom?: unknown }>).map((e) => [e.name, e.value ?? e.valueFrom]),
    );
    expect(env).toMatchObject({
      OPERATOR_NAMESPACE: '',
      LEADER_ELECTION_NAMESPACE: NAMESPACE,
      LEADER_ELECTION_LEASE: `${OPERATOR}-leader`,
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      POD_NAMESPACE: { fieldRef: { fieldPath: 'metadata.namespace' } },
      HEALTH_PORT: '8081',
      LOG_LEVEL: 'info',
    });
    // The names operator/src/config.ts reads; a setting it does not know would do nothing.
    const known = readFileSync(join(ROOT, 'operator/src/config.ts'), 'utf8');
    for (const name of Object.keys(env)) expect(known, `operator/src/config.ts reads ${name}`).toContain(`'${name}'`);
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8081, protocol: 'TCP' }]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    // The selector must never match a fleet's pods (app.kubernetes.io/name=im-gateway).
    expect(deployment.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'im-gateway-operator',
      'app.kubernetes.io/instance': RELEASE,
    });
    const pinned = one(await render(['--set', `image.digest=sha256:${'a'.repeat(64)}`, '--set', 'image.repository=reg.example/imgw']), 'Deployment');
    expect(pinned.spec.template.spec.containers[0].image).toBe(`reg.example/imgw@sha256:${'a'.repeat(64)}`);
  });

  it('runs the operator as uid 10001, non-root, read-only, without capabilities, under RuntimeDefault seccomp', async () => {
    const pod = one(await render(), 'Deployment').spec.template.spec;
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 10001,
      runAsGroup: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.containers[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.hostNetwork ?? false).toBe(false);
    expect(pod.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '32Mi' } }]);
  });

  it('grants the operator, cluster-wide, only the calls it makes: no wildcards, no delete but of NetworkPolicies, no Secret, no pod write', async () => {
    const objects = await render();
    const role = one(objects, 'ClusterRole', CLUSTER_OPERATOR);
    expect(grants(role.rules!)).toEqual(CLUSTER_GRANTS);
    for (const rule of objects.flatMap((o) => o.rules ?? [])) {
      expect([...(rule.apiGroups ?? []), ...(rule.resources ?? []), ...rule.verbs]).not.toContain('*');
      expect(rule.verbs).not.toEqual(expect.arrayContaining(['escalate']));
      expect(rule.verbs).not.toEqual(expect.arrayContaining(['bind']));
      expect(rule.verbs).not.toEqual(expect.arrayContaining(['impersonate']));
    }
    // The one object the operator removes itself: a NetworkPolicy whose spec field was turned off.
    for (const rule of role.rules!) if (rule.verbs.includes('delete')) expect(rule.resources).toEqual(['networkpolicies']);
    const binding = one(objects, 'ClusterRoleBinding', CLUSTER_OPERATOR);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CLUSTER_OPERATOR });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: OPERATOR, namespace: NAMESPACE }]);
    // Leader election: its own Lease, by name, in the release namespace only.
    const leader = one(objects, 'Role', `${OPERATOR}-leader-election`);
    expect(leader.metadata.namespace).toBe(NAMESPACE);
    expect(grants(leader.rules!)).toEqual({
      'coordination.k8s.io/leases': ['create'],
      [`coordination.k8s.io/leases:${OPERATOR}-leader`]: sorted(['get', 'update']),
    });
  });

  it('in Cluster scope reads Secrets and patches pods only in rbac.fleetNamespaces and the fleet’s own namespace', async () => {
    const objects = await render([...FLEET, '--set', 'rbac.fleetNamespaces={chat-a,chat-b}']);
    const fleetRoles = find(objects, 'Role', `${OPERATOR}-fleet`);
    expect(fleetRoles.map((r) => r.metadata.namespace).sort()).toEqual(['chat-a', 'chat-b', NAMESPACE].sort());
    for (const role of fleetRoles) {
      expect(grants(role.rules!)).toEqual(FLEET_NAMESPACE_GRANTS);
      const binding = find(objects, 'RoleBinding', `${OPERATOR}-fleet`).find((b) => b.metadata.namespace === role.metadata.namespace)!;
      expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: `${OPERATOR}-fleet` });
      expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: OPERATOR, namespace: NAMESPACE }]);
    }
    // Nothing cluster-wide touches a Secret or writes a pod.
    for (const role of find(objects, 'ClusterRole')) {
      for (const rule of role.rules ?? []) {
        expect(rule.resources ?? [], role.metadata.name).not.toContain('secrets');
        if (rule.resources?.includes('pods')) expect(rule.verbs.filter((v) => !READ.includes(v)), role.metadata.name).toEqual([]);
      }
    }
    // No fleet and no namespaces listed: no Role at all.
    expect(find(await render(), 'Role', `${OPERATOR}-fleet`)).toEqual([]);
  });

  it('narrows Secret access to the names in rbac.secretNames, and refuses a fleet whose admin token or API tokens are not among them', async () => {
    const role = one(await render([...FLEET, '--set', 'rbac.secretNames={admin,grpc}']), 'Role', `${OPERATOR}-fleet`);
    const secrets = role.rules!.filter((r) => r.resources?.includes('secrets'));
    expect(secrets).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: ['admin', 'grpc'] }]);
    expect(await renderError([...FLEET, '--set', 'rbac.secretNames={other,grpc}'])).toMatch(/rbac\.secretNames must include "admin"/);
    expect(await renderError([...FLEET, '--set', 'rbac.secretNames={admin,fleet}'])).toMatch(/rbac\.secretNames must include "grpc", fleet\.spec\.gateway\.grpcApiTokensSecretRef/);
  });

  it('in single-namespace mode grants nothing cluster-wide to the operator: Roles in the watched namespace', async () => {
    const objects = await render([...SINGLE_NAMESPACE, '--set', 'rbac.aggregateToDefaultRoles=false']);
    expect(objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')).toEqual([]);
    const role = one(objects, 'Role', OPERATOR);
    expect(role.metadata.namespace).toBe('chat');
    expect(grants(role.rules!)).toEqual(OPERATOR_GRANTS);
    const binding = one(objects, 'RoleBinding', OPERATOR);
    expect(binding.metadata.namespace).toBe('chat');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: OPERATOR });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: OPERATOR, namespace: NAMESPACE }]);
    expect(one(objects, 'Role', `${OPERATOR}-leader-election`).metadata.namespace).toBe(NAMESPACE);
    const env = one(objects, 'Deployment').spec.template.spec.containers[0].env as Array<{ name: string; value?: string }>;
    expect(env.find((e) => e.name === 'OPERATOR_NAMESPACE')?.value).toBe('chat');
    // With no watchNamespace, the release's own.
    const own = one(await render(['--set', 'operator.scope=Namespace']), 'Role', OPERATOR);
    expect(own.metadata.namespace).toBe(NAMESPACE);
  });

  it('aggregates read access to IMGateways into view, and management (not status) into edit and admin', async () => {
    const objects = await render();
    const view = one(objects, 'ClusterRole', `${RELEASE}-im-gateway-${NAMESPACE}-view`);
    expect(view.metadata.labels).toMatchObject({
      'rbac.authorization.k8s.io/aggregate-to-view': 'true',
      'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
      'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
    });
    expect(grants(view.rules!)).toEqual({
      'imgateway.io/imgateways': READ,
      'imgateway.io/imgateways/status': READ,
      'imgateway.io/imgateways/scale': READ,
    });
    const edit = one(objects, 'ClusterRole', `${RELEASE}-im-gateway-${NAMESPACE}-edit`);
    expect(edit.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-view']).toBeUndefined();
    expect(grants(edit.rules!)).toEqual({
      'imgateway.io/imgateways': sorted(['create', 'update', 'patch', 'delete', 'deletecollection']),
      'imgateway.io/imgateways/scale': sorted(['update', 'patch']),
    });
  });

  it('renders an IMGateway from values when fleet.enabled, with the chart image unless the spec names one', async () => {
    const objects = await render(FLEET);
    const fleet = one(objects, 'IMGateway', `${RELEASE}-im-gateway`);
    expect(fleet.apiVersion).toBe('imgateway.io/v1alpha1');
    expect(fleet.metadata.namespace).toBe(NAMESPACE);
    expect(fleet.spec).toEqual({
      image: 'im-gateway:0.1.0',
      maxReplicas: 20,
      gateway: {
        etcdEndpoints: ['http://etcd:2379'],
        redisUrl: 'redis://redis:6379',
        kafkaBrokers: ['kafka:9092'],
        jwt: { secretRef: { name: 'jwt', key: 'secret' } },
        adminTokenSecretRef: { name: 'admin', key: 'token' },
        grpcApiTokensSecretRef: { name: 'grpc', key: 'tokens' },
        fleetSecretRef: { name: 'fleet', key: 'secret' },
      },
    });
    const named = one(await render([...FLEET, '--set', 'fleet.spec.image=other:1', '--set', 'fleet.name=chat']), 'IMGateway');
    expect(named.metadata.name).toBe('chat');
    expect(named.spec.image).toBe('other:1');
    // In single-namespace mode the fleet goes where the operator looks.
    expect(one(await render([...FLEET, ...SINGLE_NAMESPACE]), 'IMGateway').metadata.namespace).toBe('chat');
  });

  it('renders ServiceMonitors only when enabled, selecting the Services the operator makes and its own metrics Service', async () => {
    expect(find(await render(), 'ServiceMonitor')).toEqual([]);
    const objects = await render(['--set', 'serviceMonitor.enabled=true', '--set', 'serviceMonitor.labels.release=prom']);
    const gateway = one(objects, 'ServiceMonitor', `${RELEASE}-im-gateway-gateway`);
    expect(gateway.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(gateway.metadata.labels?.release).toBe('prom');
    expect(gateway.spec.namespaceSelector).toEqual({ any: true });
    // The selector must match what the operator puts on a fleet's Service (operator/src/resources/labels.ts).
    const serviceLabels = fleetLabels('any-fleet');
    for (const [key, value] of Object.entries(gateway.spec.selector.matchLabels as Record<string, string>)) {
      expect(serviceLabels[key], key).toBe(value);
    }
    expect(gateway.spec.selector.matchLabels['app.kubernetes.io/managed-by']).toBe(MANAGED_BY);
    expect(gateway.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '30s', scrapeTimeout: '10s' }]);

    const operator = one(objects, 'ServiceMonitor', OPERATOR);
    const metrics = one(objects, 'Service', `${OPERATOR}-metrics`);
    expect(metrics.metadata.labels).toMatchObject(operator.spec.selector.matchLabels);
    expect(metrics.spec.ports).toEqual([{ name: 'metrics', port: 8081, targetPort: 'http', protocol: 'TCP' }]);
    expect(operator.spec.endpoints[0].port).toBe('metrics');
    expect(operator.spec.namespaceSelector).toEqual({ matchNames: [NAMESPACE] });

    const single = one(await render(['--set', 'serviceMonitor.enabled=true', ...SINGLE_NAMESPACE]), 'ServiceMonitor', `${RELEASE}-im-gateway-gateway`);
    expect(single.spec.namespaceSelector).toEqual({ matchNames: ['chat'] });
  });

  it('tells in its notes how to list the fleets and to apply the CRD before an upgrade', async () => {
    // `helm template` leaves NOTES.txt out; a probe template in a copy of the chart renders it.
    const dir = mkdtempSync(join(tmpdir(), 'imgw-chart-'));
    try {
      cpSync(CHART, dir, { recursive: true });
      writeFileSync(
        join(dir, 'templates/zz-notes.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n' +
          '  notes: {{ include (print $.Template.BasePath "/NOTES.txt") . | quote }}\n',
      );
      const notes = async (args: string[]) => {
        const { ok, out } = await helm(['template', RELEASE, dir, '--namespace', NAMESPACE, '--show-only', 'templates/zz-notes.yaml', ...args]);
        expect(ok, out).toBe(true);
        return (parseYaml(out) as { data: { notes: string } }).data.notes;
      };
      const all = await notes([]);
      expect(all).toContain('kubectl get imgateways --all-namespaces');
      expect(all).toContain('kubectl apply --server-side -f <chart directory>/crds/imgateway.yaml');
      expect(await notes([...SINGLE_NAMESPACE, ...FLEET])).toContain('kubectl get imgateways -n chat');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!existsSync(REPO_CRD))('ships a CRD identical to crds/imgateway.yaml', () => {
    // Helm's crds/ directory cannot reach outside the chart, so the chart holds a copy.
    expect(readFileSync(CHART_CRD, 'utf8'), 'cp crds/imgateway.yaml charts/im-gateway/crds/').toBe(readFileSync(REPO_CRD, 'utf8'));
  });

  it.skipIf(!existsSync(REPO_CRD))("checks an enabled fleet's spec against the CRD's schema", () => {
    const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Schema & { properties: { fleet: { then: { properties: { spec: Schema } } } } };
    const expected = crdSpecSchema(readFileSync(REPO_CRD, 'utf8'));
    if (process.env.IMGW_UPDATE_CHART_SCHEMA === '1') {
      schema.properties.fleet.then.properties.spec = expected;
      writeFileSync(SCHEMA_FILE, `${JSON.stringify(schema, null, 2)}\n`);
    }
    expect(schema.properties.fleet.then.properties.spec, 'IMGW_UPDATE_CHART_SCHEMA=1 npx vitest run charts/test').toEqual(expected);
  });

  it('describes every value in values.schema.json', () => {
    const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Schema;
    const missing: string[] = [];
    const walk = (node: Schema, path: string): void => {
      for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, Schema>)) {
        if (typeof child.description !== 'string' || child.description === '') missing.push(`${path}${name}`);
        walk(child, `${path}${name}.`);
      }
    };
    walk(schema, '');
    expect(missing).toEqual([]);
  });

  it('accepts `global`, so it can be a subchart', async () => {
    expect(await render(['--set', 'global.imageRegistry=registry.example', '--set', 'global.storageClass=fast'])).toBeDefined();
    const { ok, out } = await helm(['lint', '--strict', CHART, '--set', 'global.anything=1']);
    expect(ok, out).toBe(true);
  });

  it('keeps cluster-scoped names apart for two releases of one name in two namespaces', async () => {
    const names = async (namespace: string) => {
      const { ok, out } = await helm(['template', RELEASE, CHART, '--namespace', namespace]);
      expect(ok, out).toBe(true);
      return parseAllDocuments(out)
        .map((d) => d.toJS() as K8sObject | null)
        .filter((o): o is K8sObject => o !== null && o.kind.startsWith('Cluster'))
        .map((o) => `${o.kind}/${o.metadata.name}`);
    };
    const [a, b] = [await names('team-a'), await names('team-b')];
    expect(a.length).toBe(4);
    expect(a.filter((name) => b.includes(name))).toEqual([]);
  });

  it('gives the fleet’s gateway pods the chart’s imagePullSecrets unless its spec names its own', async () => {
    const pulled = one(await render([...FLEET, '--set', 'imagePullSecrets[0].name=registry-creds']), 'IMGateway');
    expect(pulled.spec.podTemplate).toEqual({ imagePullSecrets: [{ name: 'registry-creds' }] });
    const own = one(
      await render([...FLEET, '--set', 'imagePullSecrets[0].name=registry-creds', '--set', 'fleet.spec.podTemplate.imagePullSecrets[0].name=team-creds', '--set', 'fleet.spec.podTemplate.priorityClassName=im']),
      'IMGateway',
    );
    expect(own.spec.podTemplate).toEqual({ imagePullSecrets: [{ name: 'team-creds' }], priorityClassName: 'im' });
    expect(one(await render(FLEET), 'IMGateway').spec.podTemplate).toBeUndefined();
  });

  it('lets no password reach the IMGateway that view holders read: an inline Redis URL with credentials is refused, a Secret reference taken', async () => {
    expect(await renderError([...FLEET, '--set', 'fleet.spec.gateway.redisUrl=redis://:hunter2@redis:6379'])).toMatch(/at '\/fleet\/spec\/gateway\/redisUrl'/);
    expect(await renderError([...FLEET, '--set', 'fleet.spec.gateway.redisUrl=rediss://app:hunter2@redis:6380'])).toMatch(/at '\/fleet\/spec\/gateway\/redisUrl'/);
    const redisAt = FLEET.indexOf('fleet.spec.gateway.redisUrl=redis://redis:6379');
    const bySecret = FLEET.filter((_arg, i) => i !== redisAt && i !== redisAt - 1);
    const fleet = one(await render([...bySecret, '--set', 'fleet.spec.gateway.redisUrlSecretRef.name=redis', '--set', 'fleet.spec.gateway.redisUrlSecretRef.key=url']), 'IMGateway');
    expect(fleet.spec.gateway.redisUrl).toBeUndefined();
    expect(fleet.spec.gateway.redisUrlSecretRef).toEqual({ name: 'redis', key: 'url' });
  });

  it('renders the PrometheusRule only when enabled; promtool checks its rules and passes their unit tests', async () => {
    expect(find(await render(), 'PrometheusRule')).toEqual([]);
    const rule = one(await render(['--set', 'prometheusRule.enabled=true', '--set', 'prometheusRule.labels.release=prom']), 'PrometheusRule');
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.metadata.labels?.release).toBe('prom');
    const alerts = (rule.spec.groups as Array<{ rules: Array<{ alert: string }> }>).flatMap((g) => g.rules.map((r) => r.alert));
    expect(alerts.sort()).toEqual(
      ['IMGatewayOperatorNoLeader', 'IMGatewayOperatorReconcileErrors', 'IMGatewayDrainsTimingOut', 'IMGatewayFleetAtMaxReplicas', 'IMGatewayRegistryUnhealthy', 'IMGatewayPodStatsFailing'].sort(),
    );
    const dir = mkdtempSync(join(tmpdir(), 'imgw-rules-'));
    try {
      writeFileSync(join(dir, 'alerts.yaml'), JSON.stringify(rule.spec));
      cpSync(join(ROOT, 'charts/test/alerts.test.yaml'), join(dir, 'alerts.test.yaml'));
      const promtool = promtoolBin();
      const check = await run(promtool, ['check', 'rules', join(dir, 'alerts.yaml')]);
      expect(check.stdout).toContain('SUCCESS: 6 rules found');
      const tests = await run(promtool, ['test', 'rules', 'alerts.test.yaml'], { cwd: dir }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: `${e.stdout}${e.stderr}` }));
      expect(tests.stdout).toContain('SUCCESS');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renders the Grafana dashboard only when enabled, as valid JSON whose every query names metrics the gateway or the operator exports', async () => {
    expect(find(await render(), 'ConfigMap')).toEqual([]);
    const map = one(await render(['--set', 'grafanaDashboard.enabled=true', '--set', 'grafanaDashboard.namespace=monitoring']), 'ConfigMap');
    expect(map.metadata.namespace).toBe('monitoring');
    expect(map.metadata.labels?.grafana_dashboard).toBe('1');
    const dashboard = JSON.parse(map.data!['im-gateway.json']!) as { uid: string; panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }> };
    expect(dashboard.uid).toBe('im-gateway-fleets');
    const exported = new Set<string>();
    for (const registry of [new OperatorMetrics().registry, new GatewayMetrics(() => 0).registry]) {
      for (const metric of await registry.getMetricsAsJSON()) {
        exported.add(metric.name);
        // A histogram is queried through its series.
        if (String(metric.type) === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(metric.name + suffix);
      }
    }
    const graphs = dashboard.panels.filter((p) => p.type !== 'row');
    expect(graphs.length).toBeGreaterThanOrEqual(10);
    const used = new Set<string>();
    for (const panel of graphs) {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets!) {
        const names = [...expr.matchAll(/\bim_gateway_[a-z_]+\b/g)].map((m) => m[0]);
        expect(names.length, `${panel.title}: ${expr}`).toBeGreaterThan(0);
        for (const name of names) {
          expect(exported.has(name), `${panel.title}: ${name} is no exported metric`).toBe(true);
          used.add(name);
        }
      }
    }
    // The operator metrics the issue asks for are on the dashboard.
    for (const name of ['im_gateway_operator_work_queue_depth', 'im_gateway_operator_reconcile_duration_seconds_bucket', 'im_gateway_operator_drain_duration_seconds_bucket', 'im_gateway_active_connections']) {
      expect(used.has(name), name).toBe(true);
    }
  });

  describe('refuses bad values', () => {
    const cases: Array<[string, string[], RegExp]> = [
      ['negative replicas', ['--set', 'operator.replicas=-1'], /at '\/operator\/replicas'/],
      ['an unknown top-level key', ['--set', 'replicas=3'], /additional properties 'replicas' not allowed/],
      ['a misspelt nested key', ['--set', 'operator.replica=3'], /at '\/operator': additional properties 'replica' not allowed/],
      ['an unknown scope', ['--set', 'operator.scope=Everywhere'], /at '\/operator\/scope'/],
      ['a watched namespace in cluster scope', ['--set', 'operator.watchNamespace=chat'], /at '\/operator\/watchNamespace'/],
      ['a bad pull policy', ['--set', 'image.pullPolicy=Sometimes'], /at '\/image\/pullPolicy'/],
      ['a bad log level', ['--set', 'operator.logLevel=verbose'], /at '\/operator\/logLevel'/],
      ['a port out of range', ['--set', 'operator.port=70000'], /at '\/operator\/port'/],
      ['a fleet without its gateway settings', ['--set', 'fleet.enabled=true'], /at '\/fleet\/spec': missing property 'gateway'/],
      ['a fleet spec with an unknown key', [...FLEET, '--set', 'fleet.spec.minReplica=1'], /additional properties 'minReplica' not allowed/],
      ['a fleet spec with a bad value', [...FLEET, '--set', 'fleet.spec.minReplicas=0'], /at '\/fleet\/spec\/minReplicas'/],
      ['a fleet with a bad Redis URL', [...FLEET, '--set', 'fleet.spec.gateway.redisUrl=http://x'], /at '\/fleet\/spec\/gateway\/redisUrl'/],
    ];
    it.each(cases)('%s', async (_what, args, message) => {
      const error = await renderError(args);
      expect(error).toMatch(/values don't meet the specifications of the schema/);
      expect(error).toMatch(message);
      const lint = await helm(['lint', '--strict', CHART, ...args]);
      expect(lint.ok).toBe(false);
    });
  });
});
