import { describe, expect, it } from 'vitest';
import { groupLog, isLogId, membershipLog, notificationLog, privateLog, pushLog } from '../src/store/store.ts';

describe('log ids', () => {
  it('accepts every log id the store names, a conversation with oneself included', () => {
    for (const id of [privateLog('bob', 'alice'), privateLog('alice', 'alice'), groupLog('g-1'), membershipLog('g-1'), pushLog('u@x'), notificationLog('u.1')]) {
      expect(isLogId(id), id).toBe(true);
    }
  });

  it('refuses anything else', () => {
    for (const id of ['', 'd:', 'd:alice', 'd:bob:alice', 'd::alice', 'd:alice:', 'd:a:b:c', 'g:', 'g:a b', 'x:alice', 'alice', `g:${'a'.repeat(129)}`]) {
      expect(isLogId(id), id).toBe(false);
    }
  });
});
