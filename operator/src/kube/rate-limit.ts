/**
 * A client-side limit on the operator's API requests, as client-go's rest
 * config has (controller-runtime's defaults: 20 a second, bursts of 30): a
 * fleet whose passes fail and retry, or many fleets at once, cannot flood the
 * API server. Watches (long-lived, one per informer) are not counted.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { TokenBucket, type Rate } from '../rate/token-bucket.ts';

export const DEFAULT_API_RATE: Rate = { perSecond: 20, burst: 30 };

/**
 * A view of `kc` whose API clients wait for a token before each request.
 * `kc` itself is unchanged: leader election keeps using it, so a burst of
 * reconcile requests never delays a lease renewal.
 */
export function rateLimited(kc: KubeConfig, rate: Rate = DEFAULT_API_RATE): KubeConfig {
  const bucket = new TokenBucket(rate);
  const limited = Object.create(kc) as KubeConfig;
  limited.applySecurityAuthentication = async (context) => {
    await bucket.take();
    return kc.applySecurityAuthentication.call(limited, context);
  };
  return limited;
}
