import { afterEach, describe, expect, it, vi } from 'vitest';
import { entryJson, type LogEntry } from '../src/store/store.ts';
import { message } from './support/store-contract.ts';

describe('entry JSON', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('serialises an entry once however often it is forwarded or logged, and each entry object on its own', () => {
    const stringify = vi.spyOn(JSON, 'stringify');
    const entry: LogEntry = { pos: 1, storedAt: 5, frame: message('m1') };
    const first = entryJson(entry);
    expect(entryJson(entry)).toBe(first);
    expect(stringify).toHaveBeenCalledTimes(1);
    const other: LogEntry = { ...entry, pos: 2 };
    expect(JSON.parse(entryJson(other))).toEqual(other);
    expect(JSON.parse(first)).toEqual(entry);
  });
});
