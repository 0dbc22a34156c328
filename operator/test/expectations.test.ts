import { describe, expect, it } from 'vitest';
import { atLeast, Expectations } from '../src/controller/expectations.ts';

describe('expectations', () => {
  it('hold a fleet back until its cache reaches the version the operator wrote', () => {
    const e = new Expectations();
    const cache = new Map<string, string>([['deployment/ns/chat', '100']]);
    e.written('ns/chat', 'deployment/ns/chat', '105');
    expect(e.behind('ns/chat', (o) => cache.get(o))).toBe('deployment/ns/chat');
    cache.set('deployment/ns/chat', '105');
    expect(e.behind('ns/chat', (o) => cache.get(o))).toBeUndefined();
    // Met once, forgotten: an older version showing again later is not waited for.
    cache.set('deployment/ns/chat', '90');
    expect(e.behind('ns/chat', (o) => cache.get(o))).toBeUndefined();
  });

  it('count a later version as caught up, and a created object that is not cached yet as behind', () => {
    const e = new Expectations();
    e.written('ns/chat', 'deployment/ns/chat', '7');
    expect(e.behind('ns/chat', () => undefined)).toBe('deployment/ns/chat');
    expect(e.behind('ns/chat', () => '12')).toBeUndefined();
  });

  it('count a deleted pod as caught up once it leaves the cache', () => {
    const e = new Expectations();
    e.deleted('ns/chat', 'pod/ns/chat-1', '40');
    expect(e.behind('ns/chat', () => '39')).toBe('pod/ns/chat-1');
    expect(e.behind('ns/chat', () => undefined)).toBeUndefined();
  });

  it('stop waiting after 30 s, and keep fleets apart', () => {
    const e = new Expectations();
    e.written('ns/a', 'imgateway/ns/a', '5');
    expect(e.behind('ns/b', () => '1')).toBeUndefined();
    expect(e.behind('ns/a', () => '1', Date.now() + 29_000)).toBe('imgateway/ns/a');
    expect(e.behind('ns/a', () => '1', Date.now() + 31_000)).toBeUndefined();
  });

  it('compare resourceVersions as integers, anything else for equality only', () => {
    expect(atLeast('10', '9')).toBe(true);
    expect(atLeast('9', '10')).toBe(false);
    expect(atLeast('abc', 'abc')).toBe(true);
    expect(atLeast('abd', 'abc')).toBe(false);
  });
});
