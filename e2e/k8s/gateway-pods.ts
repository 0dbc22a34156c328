/**
 * The workload of gateway Pods for the stand-in kubelet: each Pod's gateway
 * runs as a process bound to the Pod's loopback IP, with the environment the
 * Pod spec gives its container (values, `$(VAR)` references, field refs and
 * Secret refs resolved as a kubelet would).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { GATEWAY_MAIN, lines } from '../fleet/gateway-process.ts';

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
  logs: string[];
  httpPort: number;
}

export class GatewayPods {
  private readonly core: CoreV1Api;
  private readonly extraEnv: Record<string, string>;
  private readonly running = new Map<string, Running>();

  constructor(kc: KubeConfig, extraEnv: Record<string, string> = {}) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.extraEnv = extraEnv;
  }

  readonly run = async (pod: V1Pod, ip: string): Promise<void> => {
    const env: Record<string, string> = { ...(await this.resolveEnv(pod, ip)), HOST: ip, ...this.extraEnv };
    const child = spawn(process.execPath, [GATEWAY_MAIN], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const logs: string[] = [];
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const running: Running = { child, exited, logs, httpPort: Number(env.PORT ?? 8080) };
    this.running.set(pod.metadata!.name!, running);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`gateway of ${pod.metadata!.name} did not start:\n${logs.slice(-20).join('\n')}`)), 30_000);
      const onLine = (line: string): void => {
        logs.push(line);
        if (line.includes('"gateway_started"')) {
          clearTimeout(timer);
          resolve();
        }
      };
      lines(child.stdout!, onLine);
      lines(child.stderr!, onLine);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`gateway of ${pod.metadata!.name} exited:\n${logs.slice(-20).join('\n')}`));
      });
    });
  };

  readonly ready = async (pod: V1Pod, ip: string): Promise<boolean> => {
    const running = this.running.get(pod.metadata!.name!);
    if (running === undefined) return false;
    try {
      return (await fetch(`http://${ip}:${running.httpPort}/ready`, { signal: AbortSignal.timeout(1000) })).status === 200;
    } catch {
      return false;
    }
  };

  /** A graceful stop, as the kubelet's SIGTERM; SIGKILL after the grace period. */
  readonly stop = async (pod: V1Pod): Promise<void> => {
    const running = this.running.get(pod.metadata!.name!);
    if (running === undefined) return;
    running.child.kill('SIGTERM');
    const grace = (pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    const timer = setTimeout(() => running.child.kill('SIGKILL'), grace);
    await running.exited;
    clearTimeout(timer);
    this.running.delete(pod.metadata!.name!);
  };

  /** SIGKILL: the gateway crashes; the Pod object stays until someone deletes it. */
  async crash(podName: string): Promise<void> {
    const running = this.running.get(podName);
    if (running === undefined) throw new Error(`no gateway runs for ${podName}`);
    running.child.kill('SIGKILL');
    await running.exited;
    this.running.delete(podName);
  }

  logs(podName: string): string[] {
    return this.running.get(podName)?.logs ?? [];
  }

  async stopAll(): Promise<void> {
    for (const running of this.running.values()) running.child.kill('SIGKILL');
    await Promise.all([...this.running.values()].map((r) => r.exited));
    this.running.clear();
  }

  private async resolveEnv(pod: V1Pod, ip: string): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    const namespace = pod.metadata!.namespace!;
    for (const variable of pod.spec?.containers[0]?.env ?? []) {
      let value = variable.value;
      const from = variable.valueFrom;
      if (value !== undefined) {
        // $(NAME) refers to a variable defined earlier in the list, as in a kubelet.
        value = value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name: string) => env[name] ?? ref);
      } else if (from?.fieldRef !== undefined) {
        const path = from.fieldRef.fieldPath;
        value = path === 'metadata.name' ? pod.metadata!.name! : path === 'metadata.namespace' ? namespace : path === 'status.podIP' ? ip : '';
      } else if (from?.secretKeyRef !== undefined) {
        const secret = await this.core.readNamespacedSecret({ name: from.secretKeyRef.name!, namespace });
        value = Buffer.from(secret.data?.[from.secretKeyRef.key] ?? '', 'base64').toString('utf8');
      }
      env[variable.name] = value ?? '';
    }
    return env;
  }
}
