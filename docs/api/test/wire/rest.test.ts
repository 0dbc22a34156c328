// The OpenAPI document against a real gateway: every documented operation is
// called until each documented status has been answered, and every answer
// (status, content type, required headers, body) is checked against it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryBackends } from '../../../../gateway/src/backends.ts';
import { loadConfig } from '../../../../gateway/src/config/config.ts';
import { MemoryStore } from '../../../../gateway/src/store/memory-store.ts';
import { ADMIN_TOKEN, GRPC_API_TOKEN, startGateway, TEST_SECRET, type RunningGateway } from '../../../../gateway/test/support/gateway.ts';
import { OPENAPI_FILE, loadYaml, openApiValidator, problems, type Json } from '../support/documents.ts';

/** Group membership of this group fails as an unreachable Redis would: the admin API's 503. */
const UNREACHABLE_GROUP = 'unreachable';

class StoreWithUnreachableGroup extends MemoryStore {
  override async addMember(groupId: string, userId: string): ReturnType<MemoryStore['addMember']> {
    if (groupId === UNREACHABLE_GROUP) throw new Error('connect ECONNREFUSED');
    return super.addMember(groupId, userId);
  }
  override async removeMember(groupId: string, userId: string): Promise<boolean> {
    if (groupId === UNREACHABLE_GROUP) throw new Error('connect ECONNREFUSED');
    return super.removeMember(groupId, userId);
  }
  override async groupMembers(groupId: string): Promise<string[]> {
    if (groupId === UNREACHABLE_GROUP) throw new Error('connect ECONNREFUSED');
    return super.groupMembers(groupId);
  }
}

interface Answer {
  method: string;
  path: string;
  status: number;
  headers: Headers;
  body: string;
}

type Operation = { responses: Record<string, Json> };

/** A JSON pointer to `segments`, written as a URI fragment. */
function pointer(...segments: string[]): string {
  return segments.map((s) => `/${encodeURIComponent(s.replace(/~/g, '~0').replace(/\//g, '~1'))}`).join('');
}

describe('the OpenAPI document against a real gateway', () => {
  const doc = loadYaml(OPENAPI_FILE);
  const paths = doc.paths as Record<string, Record<string, Operation>>;
  const schemaAt = openApiValidator(doc);
  const answers: Answer[] = [];
  let gw: RunningGateway;
  let adminOff: RunningGateway;

  const call = async (method: string, path: string, { bearer = ADMIN_TOKEN as string | null, on = (): RunningGateway => gw } = {}): Promise<number> => {
    const res = await fetch(`${on().httpUrl}${path}`, { method, headers: bearer === null ? {} : { Authorization: `Bearer ${bearer}` } });
    answers.push({ method, path, status: res.status, headers: res.headers, body: await res.text() });
    return res.status;
  };

  beforeAll(async () => {
    const config = loadConfig({ JWT_SECRET: TEST_SECRET, GRPC_API_TOKENS: GRPC_API_TOKEN });
    const store = new StoreWithUnreachableGroup(config.retention, { limit: 100, windowMs: 60_000 });
    gw = await startGateway({}, { ...memoryBackends(config), store });
    adminOff = await startGateway({ ADMIN_TOKEN: '' });
    const off = { on: (): RunningGateway => adminOff };

    expect(await call('GET', '/health')).toBe(200);
    expect(await call('GET', '/ready')).toBe(200);
    expect(await call('GET', '/metrics')).toBe(200);
    expect(await call('GET', '/stats')).toBe(200);

    const members = '/v1/groups/team/members';
    expect(await call('GET', members)).toBe(404);
    expect(await call('PUT', `${members}/alice`)).toBe(201);
    expect(await call('PUT', `${members}/alice`)).toBe(200);
    expect(await call('GET', members)).toBe(200);
    expect(await call('DELETE', `${members}/alice`)).toBe(200);
    expect(await call('DELETE', `${members}/alice`)).toBe(404);
    for (const [method, path] of [['GET', members], ['PUT', `${members}/alice`], ['DELETE', `${members}/alice`], ['POST', '/v1/drain']] as const) {
      expect(await call(method, path, { bearer: null }), `${method} ${path}`).toBe(401);
      expect(await call(method, path, { bearer: 'wrong' }), `${method} ${path}`).toBe(401);
      expect(await call(method, path, off), `${method} ${path}`).toBe(403);
    }
    for (const [method, path] of [['GET', '/v1/groups/bad%20group/members'], ['PUT', `${members}/bad!user`], ['DELETE', `/v1/groups/${'g'.repeat(129)}/members/alice`]] as const) {
      expect(await call(method, path), `${method} ${path}`).toBe(400);
    }
    // Percent-encoding that does not decode: the router's own 400.
    expect(await call('PUT', '/v1/groups/%E0%A4%A/members/alice')).toBe(400);
    const unreachable = `/v1/groups/${UNREACHABLE_GROUP}/members`;
    expect(await call('GET', unreachable)).toBe(503);
    expect(await call('PUT', `${unreachable}/alice`)).toBe(503);
    expect(await call('DELETE', `${unreachable}/alice`)).toBe(503);
    // Paths and methods the document does not list.
    expect(await call('GET', '/nope')).toBe(404);
    expect(await call('POST', '/health')).toBe(404);
    // Last: draining fails readiness.
    expect(await call('POST', '/v1/drain')).toBe(202);
    expect(await call('GET', '/ready')).toBe(503);
  });

  afterAll(async () => {
    await gw?.stop();
    await adminOff?.stop();
  });

  /** The documented path template `path` falls under, if any. */
  const templateOf = (path: string): string | undefined =>
    Object.keys(paths).find((t) => new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(path));

  /** The response object's JSON pointer, following a `$ref` into components/responses. */
  const responsePointer = (template: string, method: string, status: number): string | undefined => {
    const response = paths[template]?.[method]?.responses[String(status)];
    if (response === undefined) return undefined;
    const ref = response.$ref;
    return typeof ref === 'string' ? ref.slice(1) : pointer('paths', template, method, 'responses', String(status));
  };

  const resolve = (at: string): Json =>
    at.split('/').slice(1).reduce<Json>((node, key) => node[decodeURIComponent(key).replace(/~1/g, '/').replace(/~0/g, '~')] as Json, doc);

  it('answers every documented status of every documented operation', () => {
    const documented = Object.entries(paths).flatMap(([template, operations]) =>
      Object.entries(operations)
        .filter(([method]) => ['get', 'put', 'post', 'delete'].includes(method))
        .flatMap(([method, op]) => Object.keys(op.responses).map((status) => `${method.toUpperCase()} ${template} ${status}`)));
    const seen = new Set(answers.map((a) => `${a.method} ${templateOf(a.path) ?? a.path} ${a.status}`));
    expect(documented.filter((d) => !seen.has(d))).toEqual([]);
  });

  it('matches every answer to its documented status, content type, headers and schema', () => {
    const failures: string[] = [];
    for (const answer of answers) {
      const what = `${answer.method} ${answer.path} ${answer.status}`;
      const template = templateOf(answer.path);
      const method = answer.method.toLowerCase();
      const mediaType = answer.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
      if (template === undefined || paths[template]?.[method] === undefined) {
        // Outside the document: the catch-all 404 with the common error body.
        const validate = schemaAt('/components/schemas/ApiError');
        if (answer.status !== 404 || mediaType !== 'application/json' || !validate(JSON.parse(answer.body))) failures.push(`${what}: not the documented 404`);
        continue;
      }
      const at = responsePointer(template, method, answer.status);
      if (at === undefined) {
        failures.push(`${what}: status not documented`);
        continue;
      }
      const response = resolve(at);
      for (const [name, header] of Object.entries((response.headers ?? {}) as Record<string, { required?: boolean }>)) {
        const value = answer.headers.get(name);
        if (value === null) {
          if (header.required === true) failures.push(`${what}: header ${name} missing`);
        } else if (!schemaAt(`${at}${pointer('headers', name, 'schema')}`)(value)) {
          failures.push(`${what}: header ${name}: ${value}`);
        }
      }
      if (!Object.keys((response.content ?? {}) as Json).includes(mediaType)) {
        failures.push(`${what}: content type ${mediaType} not documented`);
        continue;
      }
      const validate = schemaAt(`${at}${pointer('content', mediaType, 'schema')}`);
      const body: unknown = mediaType === 'application/json' ? JSON.parse(answer.body) : answer.body;
      if (!validate(body)) failures.push(`${what}: ${problems(validate)} in ${answer.body.slice(0, 200)}`);
    }
    expect(failures).toEqual([]);
    expect(answers.length).toBeGreaterThan(30);
  });
});
