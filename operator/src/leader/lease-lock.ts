/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's
 * leaderelection does it: take the lease when it is free or its holder has
 * not renewed it for leaseDuration (measured on this process's clock, from
 * when it last saw the record change, so clocks need not agree), renew every
 * retryPeriod, and give up leadership if renewing keeps failing for
 * renewDeadline. Updates use resourceVersion, so two candidates cannot both win.
 * Every attempt has a deadline (the rest of renewDeadline while leading), as
 * client-go's context does: an apiserver that accepts the connection and never
 * answers must not keep a leader that cannot renew believing it leads.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Observable, type ConfigurationOptions, type CoordinationV1Api, type ObservableMiddleware, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';

export interface LeaseOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
}

export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly options: LeaseOptions;
  private readonly log: Logger;
  private observed: { key: string; at: number } | null = null;
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(api: CoordinationV1Api, options: LeaseOptions, log: Logger) {
    this.api = api;
    this.options = options;
    this.log = log;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Campaigns until elected, calls `onStarted`, then renews; calls `onStopped`
   * once if leadership is lost (the caller should exit, as controller-runtime does).
   */
  async run(onStarted: () => void, onStopped: () => void): Promise<void> {
    const retryMs = this.options.retryPeriodSeconds * 1000;
    while (!this.stopped && !(await this.tryAcquireOrRenew())) await sleep(retryMs);
    if (this.stopped) return;
    this.leading = true;
    this.log.info('leader_elected', { lease: this.options.name, identity: this.options.identity });
    onStarted();
    let lastRenew = Date.now();
    const renew = async (): Promise<void> => {
      if (this.stopped) return;
      const left = lastRenew + this.options.renewDeadlineSeconds * 1000 - Date.now();
      if (await this.tryAcquireOrRenew(Math.max(MIN_ATTEMPT_MS, left))) lastRenew = Date.now();
      else if (Date.now() - lastRenew > this.options.renewDeadlineSeconds * 1000) {
        this.leading = false;
        this.log.error('leader_lost', { lease: this.options.name });
        onStopped();
        return;
      }
      this.timer = setTimeout(() => void renew(), retryMs);
    };
    this.timer = setTimeout(() => void renew(), retryMs);
  }

  /** Stops campaigning; a leader hands the lease back so a successor need not wait it out. */
  async release(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity !== this.options.identity) return;
      lease.spec.holderIdentity = undefined as unknown as string;
      lease.spec.leaseDurationSeconds = 1;
      lease.spec.renewTime = microTime(new Date()) as unknown as Date;
      await this.api.replaceNamespacedLease({ name: this.options.name, namespace: this.options.namespace, body: lease });
    } catch (err) {
      this.log.warn('leader_release_failed', { error: String(err) });
    }
  }

  private async tryAcquireOrRenew(timeoutMs = this.options.renewDeadlineSeconds * 1000): Promise<boolean> {
    const { namespace, name, identity, leaseDurationSeconds } = this.options;
    const now = new Date();
    const deadline = withDeadline(timeoutMs);
    try {
      const lease = await this.read(deadline);
      if (lease === null) {
        await this.api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 } as never,
          },
        }, deadline);
        return true;
      }
      const spec = lease.spec ?? {};
      const key = `${spec.holderIdentity ?? ''}|${String(spec.renewTime ?? '')}`;
      if (this.observed?.key !== key) this.observed = { key, at: Date.now() };
      const holder = spec.holderIdentity ?? '';
      const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
      const expired = Date.now() - this.observed.at > duration;
      if (holder !== '' && holder !== identity && !expired) return false;
      const taking = holder !== identity;
      lease.spec = {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: microTime(now),
        ...(taking ? { acquireTime: microTime(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 } : {}),
      } as never;
      // resourceVersion in metadata makes this a compare-and-swap.
      await this.api.replaceNamespacedLease({ name, namespace, body: lease }, deadline);
      return true;
    } catch (err) {
      if (!isConflict(err)) this.log.warn('leader_election_error', { error: String(err) });
      return false;
    }
  }

  private async read(options?: ConfigurationOptions): Promise<V1Lease | null> {
    try {
      return await this.api.readNamespacedLease({ name: this.options.name, namespace: this.options.namespace }, options);
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }
}

/** Shortest deadline of one attempt: a renewal needs a round trip or two. */
const MIN_ATTEMPT_MS = 500;

/** Request options that abort every request made with them `ms` from now. */
function withDeadline(ms: number): ConfigurationOptions {
  const signal = AbortSignal.timeout(ms);
  const deadline: ObservableMiddleware = {
    pre: (request) => {
      request.setSignal(signal);
      return new Observable(Promise.resolve(request));
    },
    post: (response) => new Observable(Promise.resolve(response)),
  };
  return { middleware: [deadline], middlewareMergeStrategy: 'append' };
}

/** MicroTime as the API server parses it: RFC 3339 with exactly six fractional digits. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
