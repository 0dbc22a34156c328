import { createHmac } from 'node:crypto';
import { jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyHs256 } from '../../src/auth/hs256.ts';
import { classify } from '../../src/auth/verifier.ts';
import { GatewayError } from '../../src/protocol/errors.ts';

const SECRET = 'a-test-secret-that-is-at-least-32-bytes-long';
const KEY = Buffer.from(SECRET);
const now = Math.floor(Date.now() / 1000);

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const sign = (input: string, secret = SECRET): string => createHmac('sha256', secret).update(input).digest('base64url');
/** A compact token from raw header and payload (objects or text), signed over exactly what it carries. */
function token(header: unknown, payload: unknown, secret = SECRET): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign(input, secret)}`;
}
const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ user_id: 'alice', device_id: 'phone', exp: now + 600, ...extra });
const HS = { alg: 'HS256', typ: 'JWT' };

const cases: Array<[string, string, { issuer?: string; audience?: string }?]> = [
  ['valid', token(HS, claims())],
  ['exp this second', token(HS, claims({ exp: now }))],
  ['exp two seconds ahead', token(HS, claims({ exp: now + 2 }))],
  ['exp a string', token(HS, claims({ exp: String(now + 600) }))],
  ['exp missing', token(HS, { user_id: 'alice', device_id: 'phone' })],
  ['exp infinite (1e999)', `${b64(HS)}.${b64('{"exp":1e999}')}`],
  ['nbf a minute ahead', token(HS, claims({ nbf: now + 60 }))],
  ['nbf this second', token(HS, claims({ nbf: now }))],
  ['nbf null', token(HS, claims({ nbf: null }))],
  ['iat a string', token(HS, claims({ iat: 'yesterday' }))],
  ['HS512', token({ alg: 'HS512' }, claims())],
  ['alg none, no signature', `${b64({ alg: 'none' })}.${b64(claims())}.`],
  ['alg missing', token({ typ: 'JWT' }, claims())],
  ['alg empty', token({ alg: '' }, claims())],
  ['alg a number', token({ alg: 256 }, claims())],
  ['crit naming an unknown extension', token({ alg: 'HS256', crit: ['exp-policy'], 'exp-policy': 'never' }, claims())],
  ['crit b64 false', token({ alg: 'HS256', crit: ['b64'], b64: false }, claims())],
  ['crit b64 true', token({ alg: 'HS256', crit: ['b64'], b64: true }, claims())],
  ['crit b64 without b64', token({ alg: 'HS256', crit: ['b64'] }, claims())],
  ['crit b64 a string', token({ alg: 'HS256', crit: ['b64'], b64: 'no' }, claims())],
  ['crit empty', token({ alg: 'HS256', crit: [] }, claims())],
  ['crit twice b64', token({ alg: 'HS256', crit: ['b64', 'b64'], b64: true }, claims())],
  ['crit not an array', token({ alg: 'HS256', crit: 'b64', b64: true }, claims())],
  ['b64 false without crit', token({ alg: 'HS256', b64: false }, claims())],
  ['header not JSON', `${b64('{alg')}.${b64(claims())}.${sign(`${b64('{alg')}.${b64(claims())}`)}`],
  ['header an array', token(['HS256'], claims())],
  ['header not base64url', `@@.${b64(claims())}.${sign(`@@.${b64(claims())}`)}`],
  ['payload not JSON', token(HS, 'not json')],
  ['payload an array', token(HS, [1, 2])],
  ['payload null', token(HS, 'null')],
  ['payload not UTF-8', `${b64(HS)}.${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}.${sign(`${b64(HS)}.${Buffer.from([0x7b, 0xff, 0x7d]).toString('base64url')}`)}`],
  ['payload with a non-ASCII character', `${b64(HS)}.é${b64(claims())}.${sign(`${b64(HS)}.é${b64(claims())}`)}`],
  ['four segments', `${token(HS, claims())}.extra`],
  ['two segments', `${b64(HS)}.${b64(claims())}`],
  ['one segment', 'abc'],
  ['empty', ''],
  ['another secret', token(HS, claims(), 'another-secret-that-is-at-least-32-bytes')],
  ['signature cut short', token(HS, claims()).slice(0, -2)],
  ['signature padded', `${token(HS, claims())}=`],
  ['signature with a character too many', `${token(HS, claims())}A`],
  ['signature over-padded', `${token(HS, claims())}==`],
  ['header padded', (() => { const [h, p] = token(HS, claims()).split('.'); const input = `${h}==.${p}`; return `${input}.${sign(input)}`; })()],
  ['signature not base64url', `${b64(HS)}.${b64(claims())}.+/+/`],
  ['payload changed after signing', (() => { const [h, , s] = token(HS, claims()).split('.'); return `${h}.${b64(claims({ user_id: 'mallory' }))}.${s}`; })()],
  ['issuer right', token(HS, claims({ iss: 'us' })), { issuer: 'us' }],
  ['issuer other', token(HS, claims({ iss: 'them' })), { issuer: 'us' }],
  ['issuer missing', token(HS, claims()), { issuer: 'us' }],
  ['audience right', token(HS, claims({ aud: 'gw' })), { audience: 'gw' }],
  ['audience in a list', token(HS, claims({ aud: ['x', 'gw'] })), { audience: 'gw' }],
  ['audience other', token(HS, claims({ aud: 'x' })), { audience: 'gw' }],
  ['audience missing', token(HS, claims()), { audience: 'gw' }],
  ['audience and issuer missing', token(HS, claims()), { audience: 'gw', issuer: 'us' }],
];

/** What jose answers, as the gateway's code (or 'ok'). */
async function joseAnswer(text: string, checks: { issuer?: string; audience?: string }): Promise<string> {
  try {
    await jwtVerify(text, new TextEncoder().encode(SECRET), { algorithms: ['HS256'], requiredClaims: ['exp'], ...checks });
    return 'ok';
  } catch (err) {
    return classify(err).code;
  }
}

function ownAnswer(text: string, checks: { issuer?: string; audience?: string }): string {
  try {
    verifyHs256(text, KEY, checks, Math.floor(Date.now() / 1000));
    return 'ok';
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return err.code;
  }
}

describe('HS256 verification without WebCrypto', () => {
  it('answers every token as jose does', async () => {
    const differ: string[] = [];
    for (const [name, text, checks = {}] of cases) {
      const [expected, actual] = [await joseAnswer(text, checks), ownAnswer(text, checks)];
      if (expected !== actual) differ.push(`${name}: jose ${expected}, here ${actual}`);
    }
    expect(differ).toEqual([]);
    // The table covers each answer, so agreeing cannot be agreeing on one code.
    const answers = new Set(cases.map(([, text, checks = {}]) => ownAnswer(text, checks)));
    expect([...answers].sort()).toEqual(['AUTH_FAILED', 'INVALID_TOKEN', 'TOKEN_EXPIRED', 'ok']);
  });

  it('returns the claims of a valid token', () => {
    expect(verifyHs256(token(HS, claims()), KEY, {}, now)).toMatchObject({ user_id: 'alice', device_id: 'phone', exp: now + 600 });
  });
});
