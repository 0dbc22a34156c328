import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors.ts';
import { Outbox } from '../../src/outbox.ts';

describe('outbox', () => {
  it('settles a send once: a later answer for the same msg_id finds nothing', async () => {
    const outbox = new Outbox();
    const sent = outbox.add('m1', 'text-1');
    expect(outbox.pending('m1')).toBe(sent);
    outbox.resolve('m1', { msgId: 'm1', sequenceNumber: 4, status: 'delivered' });
    outbox.reject('m1', new GatewayError('INVALID_RECIPIENT', 'late'));
    outbox.resolve('m1', { msgId: 'm1', sequenceNumber: 9, status: 'duplicate' });
    await expect(sent).resolves.toEqual({ msgId: 'm1', sequenceNumber: 4, status: 'delivered' });
    expect(outbox.size).toBe(0);
    expect(outbox.pending('m1')).toBeUndefined();
  });

  it('gives every pending send, oldest first, for a new socket, held ones included', () => {
    const outbox = new Outbox();
    for (const id of ['a', 'b', 'c']) void outbox.add(id, `text-${id}`);
    outbox.hold('b');
    expect(outbox.holding).toBe(true);
    expect(outbox.all()).toEqual(['text-a', 'text-b', 'text-c']);
    expect(outbox.holding).toBe(false);
  });

  it('releases the held sends in order, and a send added while some are held waits with them', () => {
    const outbox = new Outbox();
    for (const id of ['a', 'b', 'c']) void outbox.add(id, `text-${id}`);
    outbox.hold('c');
    outbox.hold('b');
    void outbox.add('d', 'text-d', outbox.holding);
    outbox.resolve('a', { msgId: 'a', sequenceNumber: 1, status: 'delivered' });
    expect(outbox.release()).toEqual(['text-b', 'text-c', 'text-d']);
    expect(outbox.release()).toEqual([]);
    expect(outbox.holding).toBe(false);
  });

  it('stops holding once the held sends are answered', () => {
    const outbox = new Outbox();
    void outbox.add('a', 'text-a');
    outbox.hold('a');
    outbox.hold('a');
    outbox.resolve('a', { msgId: 'a', sequenceNumber: 1, status: 'duplicate' });
    expect(outbox.holding).toBe(false);
  });

  it('rejects every pending send on rejectAll, each once', async () => {
    const outbox = new Outbox();
    const sends = ['a', 'b'].map((id) => outbox.add(id, id));
    outbox.hold('a');
    outbox.rejectAll(new GatewayError('CLOSED', 'closed'));
    for (const send of sends) await expect(send).rejects.toMatchObject({ code: 'CLOSED' });
    expect([outbox.size, outbox.holding]).toEqual([0, false]);
  });
});
