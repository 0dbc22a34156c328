import { describe, expect, it } from 'vitest';
import { groupLog, groupOf, membershipLog, notificationLog, ownerOf, parseLogId, privateLog, pushLog, writtenIsAcknowledged } from '../../src/conversation-log/log-id.ts';

describe('log ids', () => {
  it('accepts every log id the store names, a conversation with oneself included', () => {
    for (const id of [privateLog('bob', 'alice'), privateLog('alice', 'alice'), groupLog('g-1'), membershipLog('g-1'), pushLog('u@x'), notificationLog('u.1')]) {
      expect(parseLogId(id), id).toBe(id);
    }
  });

  it('refuses anything else', () => {
    for (const id of ['', 'd:', 'd:alice', 'd:bob:alice', 'd::alice', 'd:alice:', 'd:a:b:c', 'g:', 'g:a b', 'x:alice', 'alice', `g:${'a'.repeat(129)}`]) {
      expect(parseLogId(id), id).toBeUndefined();
    }
  });

  it('tells what a log id names', () => {
    expect(ownerOf(privateLog('bob', 'alice'))).toEqual({ kind: 'private', users: ['alice', 'bob'] });
    expect(ownerOf(groupLog('team'))).toEqual({ kind: 'group', groupId: 'team' });
    expect(ownerOf(membershipLog('team'))).toEqual({ kind: 'membership', groupId: 'team' });
    expect(ownerOf(pushLog('bob'))).toEqual({ kind: 'push', userId: 'bob' });
    expect(ownerOf(notificationLog('bob'))).toEqual({ kind: 'notifications', userId: 'bob' });
    expect([groupOf(groupLog('team')), groupOf(membershipLog('team')), groupOf(privateLog('a', 'b')), groupOf(pushLog('a'))]).toEqual(['team', 'team', undefined, undefined]);
  });

  it('counts a written notification or membership change as acknowledged, never a message', () => {
    expect([notificationLog('a'), membershipLog('g'), privateLog('a', 'b'), groupLog('g'), pushLog('a')].map(writtenIsAcknowledged)).toEqual([true, true, false, false, false]);
  });
});
