/** The gateway's admin REST API, as the fan-out scenario uses it. */

/**
 * Adds every user to the group with `PUT /v1/groups/{g}/members/{u}`, at most
 * `concurrency` requests in flight; resolves with the wall time in ms.
 */
export async function addMembers(httpUrl: string, token: string, groupId: string, users: readonly string[], concurrency: number): Promise<number> {
  const started = performance.now();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < users.length) {
      const user = users[next++]!;
      const res = await fetch(`${httpUrl}/v1/groups/${groupId}/members/${user}`, {
        method: 'PUT',
        headers: { Authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(600_000),
      });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`PUT ${groupId}/${user}: HTTP ${res.status}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, users.length) }, lane));
  return performance.now() - started;
}
