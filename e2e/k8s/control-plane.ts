/**
 * A real Kubernetes control plane for tests, as envtest runs it plus the
 * controller manager: etcd, kube-apiserver (TLS, token auth, RBAC) and
 * kube-controller-manager as child processes on free loopback ports, with
 * state in a temp dir. There are no nodes and no kubelet (see kubelet.ts),
 * no scheduler and no cloud. Start one per test file: it takes a few seconds.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { freePort, LOOPBACK } from '../infra/net.ts';
import { makePki } from './pki.ts';
import { ChildService } from './process.ts';
import { requireTool } from './tools.ts';

export interface ControlPlane {
  /** Admin kubeconfig (user in system:masters), also on disk. */
  kubeconfigPath: string;
  kubeconfigYaml: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** The admin's bearer token. */
  token: string;
  /** The CA that signed the apiserver's serving certificate. */
  caFile: string;
  /** A client-node KubeConfig for the admin. */
  kubeConfig(): KubeConfig;
  /**
   * A kubeconfig that acts as a service account, with a token from the
   * TokenRequest API: RBAC applies to it as to an in-cluster workload.
   */
  serviceAccountKubeconfig(namespace: string, name: string, expirationSeconds?: number): Promise<string>;
  /** Kills every process and removes the temp dir. */
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Time allowed for the apiserver to become ready and the controllers to run. */
  timeoutMs?: number;
  /** Extra kube-apiserver flags (`--name=value`), e.g. feature gates. */
  apiserverArgs?: string[];
}

const TEMP_PREFIX = 'imgw-k8s-';
// Inert data: no traffic goes to Service IPs here, nothing proxies them.
const SERVICE_CIDR = '10.96.0.0/16';
const CLUSTER_NAME = 'imgw-e2e';

// Defaults that only matter with nodes, storage or certificates; what stays on
// is what shapes the objects a chart creates on a real cluster: namespace
// lifecycle, service accounts, pod security, priority, quotas and limits,
// admission webhooks and policies.
const DISABLED_ADMISSION = [
  'TaintNodesByCondition',
  'DefaultStorageClass',
  'StorageObjectInUseProtection',
  'PersistentVolumeClaimResize',
  'RuntimeClass',
  'CertificateApproval',
  'CertificateSigning',
  'CertificateSubjectRestriction',
  'ClusterTrustBundleAttest',
  'DefaultIngressClass',
  'PodTopologyLabels',
  'NodeDeclaredFeatureValidator',
  'PodResizeValidator',
  'PodGroupProtection',
];

// Need node CIDRs, kubelet heartbeats (the fake node has none, and would be
// marked unreachable and its pods evicted) or volume attachment.
const DISABLED_CONTROLLERS = [
  'node-ipam-controller',
  'node-lifecycle-controller',
  'persistentvolume-attach-detach-controller',
];

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const binaries = {
    etcd: requireTool('etcd'),
    apiserver: requireTool('kubeApiserver'),
    controllerManager: requireTool('kubeControllerManager'),
  };
  await removeStaleTempDirs();
  const dir = await mkdtemp(join(tmpdir(), `${TEMP_PREFIX}${process.pid}-`));
  const services: ChildService[] = [];
  const stop = async (): Promise<void> => {
    // The apiserver and controller manager first: they would log errors
    // about a missing etcd while they shut down.
    await Promise.all(services.slice(1).map((service) => service.stop(1500)));
    await services[0]?.stop(1500);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const [etcdPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    services.push(startEtcd(binaries.etcd, dir, etcdPort, etcdPeerPort));
    const pki = await makePki(dir, { ips: [LOOPBACK], dns: ['localhost'] });
    const token = randomBytes(24).toString('hex');
    const server = `https://${LOOPBACK}:${apiPort}`;
    const tokenFile = join(dir, 'tokens.csv');
    await writeFile(tokenFile, `${token},admin,admin,"system:masters"\n`, { mode: 0o600 });
    const caPem = await readFile(pki.caCert, 'utf8');
    const kubeconfigYaml = kubeconfig(server, caPem, 'admin', token);
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigYaml, { mode: 0o600 });

    services.push(
      new ChildService(
        'kube-apiserver',
        binaries.apiserver,
        [
          `--bind-address=${LOOPBACK}`,
          `--advertise-address=${LOOPBACK}`,
          `--secure-port=${apiPort}`,
          `--cert-dir=${join(dir, 'apiserver-certs')}`,
          `--tls-cert-file=${pki.servingCert}`,
          `--tls-private-key-file=${pki.servingKey}`,
          `--client-ca-file=${pki.caCert}`,
          `--token-auth-file=${tokenFile}`,
          '--authorization-mode=RBAC',
          `--etcd-servers=http://${LOOPBACK}:${etcdPort}`,
          `--service-cluster-ip-range=${SERVICE_CIDR}`,
          `--service-account-issuer=https://kubernetes.default.svc`,
          `--service-account-key-file=${pki.serviceAccountPub}`,
          `--service-account-signing-key-file=${pki.serviceAccountKey}`,
          `--disable-admission-plugins=${DISABLED_ADMISSION.join(',')}`,
          // Endpoints may not hold loopback addresses: the `kubernetes`
          // Service's reconciler would fail on 127.0.0.1 forever.
          '--endpoint-reconciler-type=none',
          '--profiling=false',
          ...(options.apiserverArgs ?? []),
        ],
        join(dir, 'kube-apiserver.log'),
      ),
    );
    // It waits for the apiserver on its own.
    services.push(
      new ChildService(
        'kube-controller-manager',
        binaries.controllerManager,
        [
          `--kubeconfig=${kubeconfigPath}`,
          '--leader-elect=false',
          `--controllers=*,${DISABLED_CONTROLLERS.map((name) => `-${name}`).join(',')}`,
          '--use-service-account-credentials=false',
          `--service-account-private-key-file=${pki.serviceAccountKey}`,
          `--root-ca-file=${pki.caCert}`,
          // No serving: nothing scrapes it, and no port to pick.
          '--secure-port=0',
        ],
        join(dir, 'kube-controller-manager.log'),
      ),
    );

    const deadline = Date.now() + timeoutMs;
    await waitFor('kube-apiserver /readyz', services, deadline, () => readyz(server, caPem, token));
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigYaml);
    const core = kc.makeApiClient(CoreV1Api);
    // The first thing the controllers do: proof that they run and can write.
    await waitFor('kube-controller-manager (default service account)', services, deadline, async () => {
      await core.readNamespacedServiceAccount({ namespace: 'default', name: 'default' });
      return true;
    });

    return {
      kubeconfigPath,
      kubeconfigYaml,
      server,
      token,
      caFile: pki.caCert,
      kubeConfig() {
        const config = new KubeConfig();
        config.loadFromString(kubeconfigYaml);
        return config;
      },
      async serviceAccountKubeconfig(namespace, name, expirationSeconds = 3600) {
        const request = await core.createNamespacedServiceAccountToken({
          namespace,
          name,
          body: { spec: { audiences: [], expirationSeconds } },
        });
        const saToken = request.status?.token;
        if (!saToken) throw new Error(`no token for service account ${namespace}/${name}`);
        return kubeconfig(server, caPem, `system:serviceaccount:${namespace}:${name}`, saToken, namespace);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

function startEtcd(binary: string, dir: string, port: number, peerPort: number): ChildService {
  const peer = `http://${LOOPBACK}:${peerPort}`;
  return new ChildService(
    'etcd',
    binary,
    [
      '--name=e2e',
      `--data-dir=${join(dir, 'etcd')}`,
      `--listen-client-urls=http://${LOOPBACK}:${port}`,
      `--advertise-client-urls=http://${LOOPBACK}:${port}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=e2e=${peer}`,
      // Test data: speed over durability.
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ],
    join(dir, 'etcd.log'),
  );
}

function kubeconfig(server: string, caPem: string, user: string, token: string, namespace = 'default'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: CLUSTER_NAME, cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: CLUSTER_NAME, context: { cluster: CLUSTER_NAME, user, namespace } }],
    'current-context': CLUSTER_NAME,
  });
}

function readyz(server: string, ca: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      `${server}/readyz`,
      { ca, headers: { Authorization: `Bearer ${token}` }, timeout: 2000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

/** Polls probe until true; fails at once, with its log, if a service exits. */
async function waitFor(
  what: string,
  services: ChildService[],
  deadline: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  let lastError: unknown;
  while (Date.now() < deadline) {
    for (const service of services) service.assertRunning();
    try {
      if (await probe()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(100);
  }
  const logs = services.map((service) => `--- ${service.name} (${service.logFile}):\n${service.tail(15)}`).join('\n');
  const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`${what} not ready in time${reason}\n${logs}`);
}

/** Temp dirs of test processes that died without their teardown. */
async function removeStaleTempDirs(): Promise<void> {
  const entries = await readdir(tmpdir()).catch(() => [] as string[]);
  await Promise.all(
    entries.map(async (entry) => {
      const match = new RegExp(`^${TEMP_PREFIX}(\\d+)-`).exec(entry);
      if (!match || processAlive(Number(match[1]))) return;
      await rm(join(tmpdir(), entry), { recursive: true, force: true });
    }),
  );
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
