/**
 * Composition root of the operator: config from the environment, a leader
 * election on a Lease, and the controller once elected. Every replica serves
 * /healthz, /readyz and /metrics; only the leader reconciles.
 */
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { Controller } from './controller/controller.ts';
import { startHealthServer } from './health/server.ts';
import { OperatorMetrics } from './health/metrics.ts';
import { LeaderElector } from './leader/lease-lock.ts';
import { createLogger, errorText } from './log.ts';
import { loadOperatorConfig } from './config.ts';

async function main(): Promise<void> {
  const config = loadOperatorConfig(process.env);
  const log = createLogger(config.logLevel, { component: 'operator', identity: config.identity });
  const kc = new KubeConfig();
  if (config.kubeconfig !== undefined) kc.loadFromFile(config.kubeconfig);
  else kc.loadFromDefault();

  const metrics = new OperatorMetrics();
  const controller = new Controller(kc, { namespace: config.namespace, workers: config.workers, syncPeriodMs: config.syncPeriodMs, sweepPeriodMs: config.sweepPeriodMs, operatorPods: config.pods }, metrics, log);
  let started = false;
  const server = await startHealthServer(config.healthPort, config.healthHost, metrics, () => started || !elector.isLeader);
  const elector = new LeaderElector(kc.makeApiClient(CoordinationV1Api), {
    namespace: config.leaderElectionNamespace,
    name: config.leaseName,
    identity: config.identity,
    leaseDurationSeconds: config.leaseDurationSeconds,
    renewDeadlineSeconds: config.renewDeadlineSeconds,
    retryPeriodSeconds: config.retryPeriodSeconds,
  }, log);

  let stopping = false;
  const shutdown = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await controller.stop().catch(() => {});
    await elector.release();
    server.close();
    process.exit(code);
  };
  process.on('SIGTERM', () => void shutdown(0));
  process.on('SIGINT', () => void shutdown(0));

  void elector.run(
    () => {
      metrics.leader.set(1);
      controller.start().then(
        () => (started = true),
        (err: unknown) => {
          log.error('controller_start_failed', { error: errorText(err) });
          void shutdown(1);
        },
      );
    },
    // Leadership lost: stop at once, so two leaders never act together; the Deployment restarts us.
    () => void shutdown(1),
  );
  log.info('operator_started', { namespace: config.namespace ?? '(all)', lease: `${config.leaderElectionNamespace}/${config.leaseName}` });
}

main().catch((err: unknown) => {
  process.stderr.write(`im-gateway-operator: ${errorText(err)}\n`);
  process.exit(1);
});

