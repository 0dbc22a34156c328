/**
 * The fleet's container image, as Kubernetes runs it: the gateway starts from
 * the image's entrypoint as uid 10001 on a read-only root filesystem with no
 * capabilities, serves WebSocket clients, and drains and exits 0 on SIGTERM;
 * the operator runs from the same image with the Helm chart's command.
 *
 * The image is the one e2e/images/build-images.sh built for the current
 * sources (IMGW_GATEWAY_IMAGE overrides it, e.g. on a machine with Docker:
 * `docker build -f Containerfile -t im-gateway:dev .`).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ContainerInspectInfo, HostConfig } from 'dockerode';
import { ImageName, Wait, getContainerRuntimeClient } from 'testcontainers';
import type { GenericContainer, StartedTestContainer } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_JWT_SECRET } from '../../gateway/src/config/config.ts';
import { TestClient } from '../../gateway/test/support/client.ts';
import { token } from '../../gateway/test/support/gateway.ts';
import { serviceContainer } from '../infra/engine.ts';
import { LOOPBACK, freePort, waitUntil } from '../infra/net.ts';

const BUILD_SCRIPT = fileURLToPath(new URL('./build-images.sh', import.meta.url));
const APP_UID = 10001;
const SHUTDOWN_TIMEOUT_MS = 10_000;

/** The reference build-images.sh gives the current sources (a hash of them). */
function imageRef(): string {
  const override = process.env.IMGW_GATEWAY_IMAGE;
  if (override) return override;
  return execFileSync('bash', [BUILD_SCRIPT, '--print-ref'], { encoding: 'utf8' }).trim();
}

/** As in a pod with readOnlyRootFilesystem; testcontainers has no builder method for it. */
function withReadOnlyRootfs(container: GenericContainer): GenericContainer {
  (container as unknown as { hostConfig: HostConfig }).hostConfig.ReadonlyRootfs = true;
  return container;
}

async function inspect(id: string): Promise<ContainerInspectInfo> {
  const runtime = await getContainerRuntimeClient();
  return runtime.container.inspect(runtime.container.getById(id));
}

/** Everything a stopped container wrote (a follow stream ends at once when it has stopped). */
async function allLogs(id: string): Promise<string> {
  const runtime = await getContainerRuntimeClient();
  const stream = await runtime.container.logs(runtime.container.getById(id));
  let text = '';
  for await (const chunk of stream) text += String(chunk);
  return text;
}

/** Connects with a token signed by the dev secret a DEV_MODE gateway trusts. */
async function connect(url: string, userId: string, deviceId: string): Promise<TestClient> {
  const jwt = await token(userId, deviceId, { secret: DEV_JWT_SECRET });
  const client = new TestClient(url, { headers: { Authorization: `Bearer ${jwt}` } });
  const auth = await client.next('auth_response', () => true, 10_000);
  expect(auth).toMatchObject({ success: true, user_id: userId, device_id: deviceId });
  return client;
}

describe('the gateway image', () => {
  let container: StartedTestContainer | undefined;
  let httpUrl: string;
  let wsUrl: string;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    const image = imageRef();
    const [port, grpcPort] = [await freePort(), await freePort()];
    const base = await serviceContainer('gateway-image', image);
    const client = await getContainerRuntimeClient();
    if (!(await client.image.exists(ImageName.fromString(image)))) {
      throw new Error(`image ${image} is missing: build it with 'sudo bash e2e/images/build-images.sh'`);
    }
    container = await withReadOnlyRootfs(base)
      .withEnvironment({
        DEV_MODE: 'true',
        // Host network: keep the test's traffic on loopback.
        HOST: LOOPBACK,
        PORT: String(port),
        GRPC_PORT: String(grpcPort),
        NODE_ID: 'image-test',
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      })
      .withDroppedCapabilities('ALL')
      .withSecurityOpt('no-new-privileges')
      .withWaitStrategy(Wait.forLogMessage(/"event":"gateway_started"/))
      .withStartupTimeout(30_000)
      .start();
    httpUrl = `http://${LOOPBACK}:${port}`;
    wsUrl = `ws://${LOOPBACK}:${port}/ws`;
    await waitUntil('gateway /health', async () => (await fetch(`${httpUrl}/health`)).ok, 15_000);
  }, 90_000);

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await container?.stop({ remove: true, timeout: 0 }).catch(() => undefined);
  }, 30_000);

  it('answers /health and /ready in dev mode on embedded backends', async () => {
    const health = await fetch(`${httpUrl}/health`);
    expect(await health.json()).toMatchObject({ status: 'healthy' });
    const ready = await fetch(`${httpUrl}/ready`);
    expect(ready.status).toBe(200);
  });

  it('exchanges a private message between two clients', async () => {
    const alice = await connect(wsUrl, 'img-alice', 'laptop');
    const bob = await connect(wsUrl, 'img-bob', 'phone');
    clients.push(alice, bob);
    const msgId = alice.sendMessage('img-bob', 'hello from the image');
    const ack = await alice.next('ack', (f) => f.msg_id === msgId, 5000);
    expect(ack).toMatchObject({ status: 'delivered', sequence_number: 1 });
    const message = await bob.next('message', (f) => f.msg_id === msgId, 5000);
    expect(message).toMatchObject({ sender_id: 'img-alice', content: 'hello from the image', sequence_number: 1 });
  });

  it('runs the gateway as uid 10001, from the entrypoint, as pid 1', async () => {
    const status = await container!.exec(['cat', '/proc/1/status']);
    expect(status.exitCode).toBe(0);
    const uids = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$/m.exec(status.output)?.slice(1).map(Number);
    expect(uids).toEqual([APP_UID, APP_UID, APP_UID, APP_UID]);
    const cmdline = await container!.exec(['cat', '/proc/1/cmdline']);
    expect(cmdline.output.split('\0').filter(Boolean)).toEqual(['node', 'gateway/src/main.ts']);
    expect((await inspect(container!.getId())).Config.User).toBe(`${APP_UID}:${APP_UID}`);
  });

  it('holds only what runs: sources, production dependencies, the proto; none of it writable', async () => {
    const check = async (script: string) => (await container!.exec(['sh', '-c', script])).exitCode;
    expect(await check('test -f gateway/src/main.ts && test -d operator/src && test -d proto/im')).toBe(0);
    expect(await check('test -d node_modules/ws && test -d node_modules/@kubernetes/client-node')).toBe(0);
    // devDependencies (Node's own npm package among them) and tests stay out.
    expect(await check('test -e node_modules/vitest || test -e node_modules/node || test -e node_modules/testcontainers')).toBe(1);
    expect(await check('test -e gateway/test || test -e operator/test')).toBe(1);
    expect(await check('test -w gateway/src/main.ts || test -w node_modules || test -w .')).toBe(1);
    if (!process.env.IMGW_GATEWAY_IMAGE) {
      // The locally built runtime base has Node but no package manager.
      expect(await check('! command -v npm && ! command -v npx')).toBe(0);
    }
  });

  it('resolves every import of the gateway and the operator from its production dependencies', async () => {
    // A module that needs a devDependency would fail only when first loaded
    // in a pod. Composition roots and CLI tools run on import, so they are left out.
    const script = `
      import { readdirSync } from 'node:fs';
      const files = ['gateway/src', 'operator/src'].flatMap((dir) =>
        readdirSync(dir, { recursive: true })
          .filter((f) => f.endsWith('.ts') && !f.endsWith('main.ts') && !f.startsWith('tools/'))
          .map((f) => './' + dir + '/' + f));
      const failed = [];
      for (const file of files) await import(file).catch((e) => failed.push(file + ': ' + e.message));
      console.log(JSON.stringify({ loaded: files.length, failed }));`;
    const result = await container!.exec(['node', '--input-type=module', '-e', script]);
    expect(result.exitCode, result.output).toBe(0);
    const { loaded, failed } = JSON.parse(result.stdout.trim().split('\n').pop()!) as { loaded: number; failed: string[] };
    expect(failed).toEqual([]);
    expect(loaded).toBeGreaterThan(20);
  });

  it('drains on SIGTERM (container stop): closes sockets with 1012 and exits 0', async () => {
    const carol = await connect(wsUrl, 'img-carol', 'tablet');
    clients.push(carol);
    const started = Date.now();
    const stopped = await container!.stop({ remove: false, timeout: SHUTDOWN_TIMEOUT_MS + 20_000 });
    const elapsed = Date.now() - started;
    const info = await inspect(stopped.getId());
    const logs = await allLogs(stopped.getId());
    const runtime = await getContainerRuntimeClient();
    await runtime.container.remove(runtime.container.getById(stopped.getId()), { removeVolumes: true });
    container = undefined;
    expect((await carol.closed).code).toBe(1012);
    // 137 would mean the engine had to SIGKILL it after the grace period.
    expect(info.State.ExitCode, logs).toBe(0);
    expect(elapsed).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    expect(logs).toContain('"event":"shutdown_complete"');
  }, 60_000);
});

describe('the operator from the same image', () => {
  let container: StartedTestContainer | undefined;
  let dir: string | undefined;
  let base: string;

  beforeAll(async () => {
    const image = imageRef();
    const port = await freePort();
    // An API server that refuses connections: the operator serves its health
    // endpoints before it reaches the cluster, and keeps retrying the lease.
    dir = mkdtempSync(join(tmpdir(), 'imgw-operator-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      'apiVersion: v1\nkind: Config\ncurrent-context: none\n' +
        'clusters: [{name: none, cluster: {server: "https://127.0.0.1:1"}}]\n' +
        'users: [{name: none, user: {token: unused}}]\n' +
        'contexts: [{name: none, context: {cluster: none, user: none}}]\n',
      { mode: 0o644 },
    );
    container = await withReadOnlyRootfs(await serviceContainer('operator-image', image))
      // The chart's `command: ["node", "operator/src/main.ts"]` replaces the entrypoint likewise.
      .withEntrypoint(['node'])
      .withCommand(['operator/src/main.ts'])
      .withBindMounts([{ source: kubeconfig, target: '/etc/imgw/kubeconfig', mode: 'ro' }])
      .withEnvironment({
        KUBECONFIG: '/etc/imgw/kubeconfig',
        HEALTH_PORT: String(port),
        HEALTH_HOST: LOOPBACK,
        POD_NAME: 'operator-0',
        LEADER_ELECTION_NAMESPACE: 'imgw-system',
      })
      .withDroppedCapabilities('ALL')
      .withSecurityOpt('no-new-privileges')
      .withWaitStrategy(Wait.forLogMessage(/"event":"operator_started"/))
      .withStartupTimeout(30_000)
      .start();
    base = `http://${LOOPBACK}:${port}`;
  }, 90_000);

  afterAll(async () => {
    await container?.stop({ remove: true, timeout: 0 }).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('serves the probes and metrics the chart points at, on HEALTH_PORT, as a standby', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    // A replica that does not lead is ready: a rollout must not wait for it to win the lease.
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^im_gateway_operator_leader 0$/m);
  });

  it('exits 0 on SIGTERM', async () => {
    const stopped = await container!.stop({ remove: false, timeout: 20_000 });
    container = undefined;
    const info = await inspect(stopped.getId());
    const runtime = await getContainerRuntimeClient();
    await runtime.container.remove(runtime.container.getById(stopped.getId()), { removeVolumes: true });
    expect(info.State.ExitCode).toBe(0);
  }, 30_000);
});
