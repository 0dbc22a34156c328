/**
 * spec.podTemplate, spec.resources and the secret-bearing settings on a real
 * kube-apiserver: the CRD (schema and CEL rules) accepts a spec using every
 * field and refuses the mistakes its rules name, and the Deployment the
 * operator builds from that spec passes the apiserver's own validation of a
 * pod template (server-side dry run), so what the CRD lets in, the
 * Deployment can carry.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiextensionsV1Api, AppsV1Api, CoreV1Api, CustomObjectsApi, loadYaml, type V1CustomResourceDefinition } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane, type ControlPlane } from './k8s/control-plane.ts';
import { withDefaults, type IMGateway, type IMGatewaySpec } from '../operator/src/api/v1alpha1/types.ts';
import { buildDeployment } from '../operator/src/resources/owned.ts';
import { REQUIRED_GATEWAY } from '../operator/test/support/spec.ts';

const NS = 'pod-template';
const CRD = loadYaml<V1CustomResourceDefinition>(readFileSync(new URL('../crds/imgateway.yaml', import.meta.url), 'utf8'));
const api = { group: 'imgateway.io', version: 'v1alpha1', plural: 'imgateways', namespace: NS };

function fullSpec(): IMGatewaySpec {
  const { redisUrl: _inline, ...gateway } = REQUIRED_GATEWAY;
  return {
    resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } },
    gateway: {
      ...gateway,
      redisUrlSecretRef: { name: 'redis', key: 'url' },
      env: [{ name: 'TLS_CERT_FILE', value: '/etc/im-gateway/tls/tls.crt' }, { name: 'TLS_KEY_FILE', value: '/etc/im-gateway/tls/tls.key' }, { name: 'EXTRA_TOKEN', valueFrom: { secretKeyRef: { name: 'extra', key: 'token' } } }],
      prefixes: { etcd: '/im-gateway' },
    },
    podTemplate: {
      labels: { team: 'chat' },
      annotations: { 'example.com/scrape': 'true' },
      serviceAccountName: 'chat-gateway',
      imagePullSecrets: [{ name: 'registry-creds' }],
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/arch', operator: 'In', values: ['amd64', 'arm64'] }] }] } },
        podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'chat' } } } }] },
      },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'im', effect: 'NoSchedule' }],
      priorityClassName: 'system-cluster-critical',
      volumes: [{ name: 'tls', secret: { secretName: 'chat-tls', defaultMode: 0o440 } }, { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
      volumeMounts: [{ name: 'tls', mountPath: '/etc/im-gateway/tls', readOnly: true }],
      envFrom: [{ secretRef: { name: 'chat-extra', optional: true } }],
    },
  };
}

describe('the pod template on a real kube-apiserver', () => {
  let cp: ControlPlane;
  let custom: CustomObjectsApi;
  let apps: AppsV1Api;

  beforeAll(async () => {
    cp = await startControlPlane();
    const kc = cp.kubeConfig();
    custom = kc.makeApiClient(CustomObjectsApi);
    apps = kc.makeApiClient(AppsV1Api);
    await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: NS } } });
    const extensions = kc.makeApiClient(ApiextensionsV1Api);
    await extensions.createCustomResourceDefinition({ body: CRD });
    for (let i = 0; ; i++) {
      const crd = await extensions.readCustomResourceDefinition({ name: CRD.metadata!.name! });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (i > 100) throw new Error('the CRD was not established');
      await sleep(100);
    }
  }, 120_000);

  afterAll(async () => {
    await cp?.stop();
  });

  const create = (name: string, spec: IMGatewaySpec) =>
    custom.createNamespacedCustomObject({ ...api, body: { apiVersion: 'imgateway.io/v1alpha1', kind: 'IMGateway', metadata: { name }, spec } }) as Promise<IMGateway>;

  it('stores a spec using every pod template field, and the Deployment built from it passes the apiserver’s validation', async () => {
    const gw = await create('chat', fullSpec());
    expect(gw.spec.podTemplate).toEqual(fullSpec().podTemplate);
    const deployment = buildDeployment(gw, withDefaults(gw.spec), 2);
    const accepted = await apps.createNamespacedDeployment({ namespace: NS, body: deployment, dryRun: 'All' });
    const pod = accepted.spec!.template.spec!;
    expect(pod.imagePullSecrets).toEqual([{ name: 'registry-creds' }]);
    expect(pod.serviceAccountName).toBe('chat-gateway');
    expect(pod.topologySpreadConstraints).toHaveLength(2);
    expect(pod.containers[0]!.env).toContainEqual({ name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'redis', key: 'url' } } });
  });

  it('defaults resources when unset', async () => {
    const gw = await create('defaults', { gateway: REQUIRED_GATEWAY });
    expect(gw.spec.resources).toEqual({ requests: { cpu: '500m', memory: '512Mi' }, limits: { memory: '1Gi' } });
  });

  it('refuses what the CEL rules name, with their messages', async () => {
    const refusal = async (name: string, spec: IMGatewaySpec): Promise<string> => {
      try {
        await create(name, spec);
      } catch (err) {
        expect((err as { code?: number }).code).toBe(422);
        return String((err as { body?: unknown }).body);
      }
      throw new Error(`accepted ${name}`);
    };
    const both = fullSpec();
    both.gateway.redisUrl = 'redis://redis:6379';
    expect(await refusal('both-redis', both)).toContain('set exactly one of redisUrl and redisUrlSecretRef');
    const twoSources = fullSpec();
    twoSources.podTemplate!.volumes = [{ name: 'tls', secret: { secretName: 'a' }, emptyDir: {} }];
    expect(await refusal('two-sources', twoSources)).toContain('a volume needs exactly one of secret, configMap, emptyDir');
    const valueTwice = fullSpec();
    valueTwice.gateway.env = [{ name: 'A', value: 'x', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }];
    expect(await refusal('value-twice', valueTwice)).toContain('an env variable takes value or valueFrom, not both');
    const envFromBoth = fullSpec();
    envFromBoth.podTemplate!.envFrom = [{ secretRef: { name: 'a' }, configMapRef: { name: 'b' } }];
    expect(await refusal('envfrom-both', envFromBoth)).toContain('an envFrom source needs exactly one of secretRef, configMapRef');
  });
});
