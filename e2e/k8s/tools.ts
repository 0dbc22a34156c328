// Where build-tools.sh put the control-plane binaries: the same cache paths,
// derived from versions.env, unless the IMGW_* variables it prints say otherwise.
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ToolPaths {
  helm: string;
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
}

const here = import.meta.dirname;

/** KEY=VALUE lines of versions.env (comments and blank lines skipped). */
export function readVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const line of readFileSync(join(here, 'versions.env'), 'utf8').split('\n')) {
    const match = /^\s*([A-Z0-9_]+)=(\S*)\s*$/.exec(line);
    if (match?.[1] && match[2] !== undefined) versions[match[1]] = match[2];
  }
  return versions;
}

export function toolPaths(env: NodeJS.ProcessEnv = process.env): ToolPaths {
  const versions = readVersions();
  const version = (key: string): string => {
    const value = env[key] || versions[key];
    if (!value) throw new Error(`${key} is missing from e2e/k8s/versions.env`);
    return value;
  };
  const cache = env.IMGW_CACHE_DIR || '/var/cache/im-gateway-fleet';
  const k8sBin = join(cache, 'k8s', version('IMGW_K8S_VERSION'), 'bin');
  return {
    helm: env.IMGW_HELM || join(cache, 'helm', version('IMGW_HELM_VERSION'), 'bin', 'helm'),
    etcd: env.IMGW_ETCD || join(cache, 'etcd', version('IMGW_ETCD_VERSION'), 'bin', 'etcd'),
    kubeApiserver: env.IMGW_KUBE_APISERVER || join(k8sBin, 'kube-apiserver'),
    kubeControllerManager: env.IMGW_KUBE_CONTROLLER_MANAGER || join(k8sBin, 'kube-controller-manager'),
  };
}

/** The path of one tool, or an error that says how to build it. */
export function requireTool(name: keyof ToolPaths): string {
  const path = toolPaths()[name];
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${path} is missing: run \`sudo bash e2e/k8s/build-tools.sh\` first`);
  }
  return path;
}
