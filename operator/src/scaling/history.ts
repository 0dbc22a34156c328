/**
 * The autoscaler's memory: recent recommendations (for the stabilization
 * windows) and recent changes of the target (for the rate policies). The
 * operator keeps it in status.scalingHistory so that a restart, or a new
 * leader, decides as the previous one would have.
 */

/** One recorded recommendation; `at` in milliseconds since the epoch. */
export interface Recommendation {
  at: number;
  replicas: number;
}

/** One change of the target; `change` is the pod count added or removed (positive). */
export interface ScaleEvent {
  at: number;
  change: number;
}

export interface ScalingHistory {
  /** When this history began; undefined until the first decision. */
  since?: number;
  recommendations: Recommendation[];
  scaleUps: ScaleEvent[];
  scaleDowns: ScaleEvent[];
}

export function emptyHistory(): ScalingHistory {
  return { recommendations: [], scaleUps: [], scaleDowns: [] };
}

const FORMAT = 1;

/** Compact JSON: `{"v":1,"s":since,"r":[[at,replicas]…],"u":[[at,change]…],"d":[…]}`. */
export function encodeHistory(history: ScalingHistory): string {
  return JSON.stringify({
    v: FORMAT,
    ...(history.since !== undefined ? { s: history.since } : {}),
    r: history.recommendations.map((r) => [r.at, r.replicas]),
    u: history.scaleUps.map((e) => [e.at, e.change]),
    d: history.scaleDowns.map((e) => [e.at, e.change]),
  });
}

/**
 * Reads what encodeHistory wrote. Anything else (absent, edited by hand,
 * another format) gives an empty history, which is safe: the decision then
 * waits a full scale-down window before removing pods.
 */
export function decodeHistory(text: string | undefined): ScalingHistory {
  if (text === undefined || text === '') return emptyHistory();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return emptyHistory();
  }
  if (typeof parsed !== 'object' || parsed === null) return emptyHistory();
  const { v, s, r, u, d } = parsed as Record<string, unknown>;
  const recommendations = readPairs(r);
  const scaleUps = readPairs(u);
  const scaleDowns = readPairs(d);
  if (v !== FORMAT || recommendations === undefined || scaleUps === undefined || scaleDowns === undefined) return emptyHistory();
  if (s !== undefined && !isTime(s)) return emptyHistory();
  return {
    ...(s !== undefined ? { since: s } : {}),
    recommendations: recommendations.map(([at, replicas]) => ({ at, replicas })),
    scaleUps: scaleUps.map(([at, change]) => ({ at, change })),
    scaleDowns: scaleDowns.map(([at, change]) => ({ at, change })),
  };
}

function readPairs(value: unknown): Array<[number, number]> | undefined {
  if (!Array.isArray(value)) return undefined;
  const pairs: Array<[number, number]> = [];
  for (const item of value) {
    if (!Array.isArray(item) || item.length !== 2) return undefined;
    const [at, n] = item as unknown[];
    if (!isTime(at) || !Number.isSafeInteger(n) || (n as number) < 0) return undefined;
    pairs.push([at, n as number]);
  }
  return pairs;
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
