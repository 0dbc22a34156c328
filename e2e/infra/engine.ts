// The one place that decides which container engine and which images the e2e
// suite uses, and that reaps containers left behind by dead test processes.
//
// Podman (this project's machines): local images built by setup.sh, never
// pulled. A real Docker engine (laptops, other CI): the official images.
// IMGW_E2E_IMAGES=local|official overrides the choice.
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { GenericContainer, ImageName, PullPolicy, getContainerRuntimeClient } from 'testcontainers';
import type { ContainerRuntimeClient, ImagePullPolicy } from 'testcontainers';
import { localImages, officialImages } from './images.ts';
import type { ServiceImages } from './images.ts';

/** Label on every container the suite starts; leftovers are found by it. */
export const LABEL = 'im-gateway-fleet.e2e';
const PODMAN_SOCKET = '/run/imgw-podman.sock';

export type ImageSource = 'local' | 'official';

export interface Engine {
  runtime: 'podman' | 'docker';
  source: ImageSource;
  images: ServiceImages;
}

let engine: Promise<Engine> | undefined;

/** Detects the engine once per process, prints the choice and reaps leftovers. */
export function getEngine(): Promise<Engine> {
  engine ??= detect();
  return engine;
}

/** A container for `image`, on the host network, labelled, pulled only if the source allows it. */
export async function serviceContainer(service: string, image: string): Promise<GenericContainer> {
  const { source } = await getEngine();
  const neverPull: ImagePullPolicy = { shouldPull: () => false };
  return new GenericContainer(image)
    .withNetworkMode('host')
    .withPullPolicy(source === 'local' ? neverPull : PullPolicy.defaultPolicy())
    .withLabels({
      [LABEL]: 'true',
      [`${LABEL}.service`]: service,
      [`${LABEL}.host`]: hostname(),
      [`${LABEL}.pid`]: String(process.pid),
    });
}

function useSetupDefaults(): void {
  // The socket setup.sh serves, when nothing else is configured.
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock') && existsSync(PODMAN_SOCKET)) {
    process.env.DOCKER_HOST = `unix://${PODMAN_SOCKET}`;
  }
  // Services listen on the host network's loopback. Without this,
  // testcontainers sees /.dockerenv and goes through a bridge gateway instead.
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';
}

async function detect(): Promise<Engine> {
  useSetupDefaults();
  const client = await getContainerRuntimeClient();
  const version = await client.container.dockerode.version();
  const isPodman = (version.Components ?? []).some((c) => /podman/i.test(c.Name));
  const runtime = isPodman ? 'podman' : 'docker';
  if (isPodman) {
    // The Ryuk reaper image cannot be had here; reapLeftovers() stands in for it.
    process.env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  }
  const wanted = process.env.IMGW_E2E_IMAGES;
  if (wanted && wanted !== 'local' && wanted !== 'official') {
    throw new Error(`IMGW_E2E_IMAGES must be 'local' or 'official', not '${wanted}'`);
  }
  const source: ImageSource = wanted === 'local' || wanted === 'official' ? wanted : isPodman ? 'local' : 'official';
  const images = source === 'local' ? localImages() : officialImages();
  if (source === 'local') await requireImages(client, images);
  await reapLeftovers(client);
  console.info(
    `[e2e/infra] ${runtime} ${version.Version} at ${process.env.DOCKER_HOST ?? 'default socket'}; ` +
      `${source} images: ${images.redis}, ${images.etcd}, ${images.kafka}`,
  );
  return { runtime, source, images };
}

async function requireImages(client: ContainerRuntimeClient, images: ServiceImages): Promise<void> {
  const missing: string[] = [];
  for (const image of Object.values(images)) {
    if (!(await client.image.exists(ImageName.fromString(image)))) missing.push(image);
  }
  if (missing.length > 0) {
    throw new Error(`missing local images ${missing.join(', ')}: run 'bash e2e/infra/setup.sh' as root`);
  }
}

/**
 * Removes this host's labelled containers whose test process is gone. Without
 * Ryuk nothing else does, and containers of live parallel workers must stay.
 */
async function reapLeftovers(client: ContainerRuntimeClient): Promise<void> {
  const { dockerode } = client.container;
  const containers = await dockerode.listContainers({ all: true, filters: { label: [LABEL] } });
  for (const info of containers) {
    const owner = Number(info.Labels[`${LABEL}.pid`]);
    if (info.Labels[`${LABEL}.host`] !== hostname() || isAlive(owner)) continue;
    await dockerode
      .getContainer(info.Id)
      .remove({ force: true, v: true })
      .catch(() => undefined); // already gone: another worker reaped it first
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
