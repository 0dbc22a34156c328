/**
 * What the operator's cluster tests set up the same way: the fleet's
 * namespace with the gateways' Secret, the IMGateway CRD (established), and
 * the chart's RBAC for the operator, rendered by helm as a platform team
 * would install it into that namespace. The operator then runs as the
 * chart's ServiceAccount, under that RBAC and nothing more.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ApiextensionsV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  loadAllYaml,
  loadYaml,
  type KubeConfig,
  type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { eventually } from '../fleet/fleet.ts';
import { FLEET_ADMIN_TOKEN, FLEET_GRPC_API_TOKEN, FLEET_JWT_SECRET, FLEET_NODE_SECRET } from '../fleet/gateway-process.ts';
import type { ControlPlane } from './control-plane.ts';
import { requireTool } from './tools.ts';

// loadYaml maps the file's keys (x-kubernetes-*) onto the client's model, which a plain parse would lose.
export const CRD = loadYaml<V1CustomResourceDefinition>(readFileSync(new URL('../../crds/imgateway.yaml', import.meta.url), 'utf8'));
export const CHART = fileURLToPath(new URL('../../charts/im-gateway', import.meta.url));
export const RELEASE = 'imgw';
/** The Secret the test fleets' specs name: keys jwt, admin, grpc, fleet. */
export const GATEWAY_SECRETS = 'gateway-secrets';
const RBAC_KINDS = new Set(['ServiceAccount', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding']);

/** The IMGateway API of `namespace`, as CustomObjectsApi takes it. */
export function imgatewayApi(namespace: string) {
  return { group: 'imgateway.io', version: 'v1alpha1', plural: 'imgateways', namespace };
}

/** Installs the above; returns the environment an OperatorProcess of this namespace starts with. */
export async function installForOperator(cp: ControlPlane, kc: KubeConfig, namespace: string, syncSeconds: number): Promise<Record<string, string>> {
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: GATEWAY_SECRETS }, stringData: { jwt: FLEET_JWT_SECRET, admin: FLEET_ADMIN_TOKEN, grpc: FLEET_GRPC_API_TOKEN, fleet: FLEET_NODE_SECRET } },
  });
  const extensions = kc.makeApiClient(ApiextensionsV1Api);
  await extensions.createCustomResourceDefinition({ body: CRD });
  await eventually('the IMGateway CRD is established', async () => {
    const crd = await extensions.readCustomResourceDefinition({ name: CRD.metadata!.name! });
    return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false;
  });
  const rendered = loadAllYaml(
    execFileSync(requireTool('helm'), ['template', RELEASE, CHART, '--namespace', namespace, '--set', 'operator.scope=Namespace', '--set', `rbac.secretNames={${GATEWAY_SECRETS}}`], {
      encoding: 'utf8',
    }),
  ).filter((doc): doc is KubernetesObject => doc !== null && typeof doc === 'object');
  const objects = KubernetesObjectApi.makeApiClient(kc);
  for (const doc of rendered.filter((d) => RBAC_KINDS.has(d.kind!))) await objects.create(doc);
  const kubeconfig = join(await mkdtemp(join(tmpdir(), 'imgw-operator-')), 'kubeconfig');
  await writeFile(kubeconfig, await cp.serviceAccountKubeconfig(namespace, `${RELEASE}-im-gateway-operator`));
  return {
    KUBECONFIG: kubeconfig,
    LEADER_ELECTION_LEASE: `${RELEASE}-im-gateway-operator-leader`,
    OPERATOR_NAMESPACE: namespace,
    LEADER_ELECTION_NAMESPACE: namespace,
    LEASE_DURATION_SECONDS: '4',
    RENEW_DEADLINE_SECONDS: '3',
    RETRY_PERIOD_SECONDS: '1',
    SYNC_PERIOD_SECONDS: String(syncSeconds),
    SWEEP_PERIOD_SECONDS: '1',
  };
}
