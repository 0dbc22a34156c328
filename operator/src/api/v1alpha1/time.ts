/**
 * Times in status, as metav1.Time writes them: RFC 3339 in UTC, whole
 * seconds. Writing the server's own form keeps a status that did not change
 * from looking changed after a round trip.
 */

/** RFC 3339, UTC, whole seconds (milliseconds dropped, not rounded). */
export function formatTime(at: Date | number): string {
  const ms = typeof at === 'number' ? at : at.getTime();
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Milliseconds since the epoch, or undefined for a missing or unreadable time. */
export function parseTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : ms;
}
