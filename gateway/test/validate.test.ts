import { describe, expect, it } from 'vitest';
import { parseClientFrame } from '../src/protocol/validate.ts';

describe('client frame validation', () => {
  it('accepts the spec’s send_msg, ack and heartbeat frames', () => {
    for (const frame of [
      { type: 'send_msg', msg_id: 'msg_user123_1706180400000_abc', recipient_id: 'user_67890', recipient_type: 'user', content: 'Hello', timestamp: 1706180400000 },
      { type: 'send_msg', msg_id: 'm1', recipient_id: 'group_789', recipient_type: 'group', content: '', metadata: { mentions: ['u'] } },
      { type: 'ack', msg_id: 'm1', status: 'received', timestamp: 1 },
      { type: 'ack', msg_id: 'm1', status: 'read' },
      { type: 'heartbeat', timestamp: 1706180400000 },
      { type: 'heartbeat' },
    ]) {
      expect(parseClientFrame(JSON.stringify(frame))).toEqual({ ok: true, frame });
    }
  });

  it('names the field at fault and keeps the msg_id when it has one', () => {
    expect(parseClientFrame('{"type":"send_msg","msg_id":"m9","recipient_id":"bob","recipient_type":"user"}')).toEqual({
      ok: false,
      problem: 'missing field "content"',
      msgId: 'm9',
    });
    expect(parseClientFrame('{"type":"send_msg","msg_id":"m9","recipient_id":"bob","recipient_type":"user","content":"x","metadata":[1]}')).toMatchObject({
      ok: false,
      problem: 'field "metadata" must be an object',
    });
    expect(parseClientFrame('{"type":7}')).toMatchObject({ ok: false, problem: 'field "type" must be a string' });
    expect(parseClientFrame('null')).toMatchObject({ ok: false, problem: 'frame must be a JSON object' });
    expect(parseClientFrame(`{"type":"ack","msg_id":"${'x'.repeat(129)}","status":"read"}`)).toMatchObject({ ok: false, problem: expect.stringMatching(/msg_id/) });
  });
});
