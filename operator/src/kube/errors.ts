/** HTTP status of a failed Kubernetes API call, whatever shape the client gave the error. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } } | null;
  for (const candidate of [e?.code, e?.statusCode, e?.response?.statusCode]) {
    if (typeof candidate === 'number') return candidate;
  }
  return undefined;
}

export const isNotFound = (err: unknown): boolean => statusOf(err) === 404;
export const isConflict = (err: unknown): boolean => statusOf(err) === 409;
export const isGone = (err: unknown): boolean => statusOf(err) === 410;
