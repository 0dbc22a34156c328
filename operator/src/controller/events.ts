/** Kubernetes Events on an IMGateway, as `kubectl describe` shows them. Best effort: a failed event never fails a reconcile. */
import type { CoreV1Api } from '@kubernetes/client-node';
import { API_VERSION, KIND, type IMGateway } from '../api/v1alpha1/types.ts';
import { errorText, type Logger } from '../log.ts';

const COMPONENT = 'im-gateway-operator';

export class EventRecorder {
  private readonly core: CoreV1Api;
  private readonly log: Logger;

  constructor(core: CoreV1Api, log: Logger) {
    this.core = core;
    this.log = log;
  }

  normal(gw: IMGateway, reason: string, message: string): void {
    this.record(gw, 'Normal', reason, message);
  }

  warning(gw: IMGateway, reason: string, message: string): void {
    this.record(gw, 'Warning', reason, message);
  }

  private record(gw: IMGateway, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const { name, namespace, uid } = gw.metadata!;
    const now = new Date();
    this.log.info('event', { fleet: `${namespace}/${name}`, reason, message });
    this.core
      .createNamespacedEvent({
        namespace: namespace!,
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: { apiVersion: API_VERSION, kind: KIND, name, namespace, uid },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: COMPONENT },
          reportingComponent: COMPONENT,
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      })
      .catch((err: unknown) => this.log.warn('event_failed', { reason, error: errorText(err) }));
  }
}
