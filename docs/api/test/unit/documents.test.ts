// Both API documents are valid for their official parsers, and say what the
// gateway's code says: the same error codes, close codes, id pattern and limits.
import { readFileSync } from 'node:fs';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { validate as validateOpenApi } from '@readme/openapi-parser';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { SUBPROTOCOL } from '../../../../gateway/src/auth/token-source.ts';
import { loadConfig } from '../../../../gateway/src/config/config.ts';
import { CloseCode, ErrorCode } from '../../../../gateway/src/protocol/errors.ts';
import { GRPC_API_TOKEN, TEST_SECRET } from '../../../../gateway/test/support/gateway.ts';
import { ID_PATTERN, MAX_METADATA_DEPTH, MAX_METADATA_ENTRIES, MAX_MSG_ID_LENGTH, MAX_TOKEN_LENGTH } from '../../../../gateway/src/protocol/validate.ts';
import { ASYNCAPI_FILE, OPENAPI_FILE, frameValidators, loadYaml, type Json } from '../support/documents.ts';

/** The AsyncAPI parser's errors and warnings (not its hints, such as "a newer AsyncAPI version exists"). */
async function asyncApiProblems(text: string): Promise<string[]> {
  const { document, diagnostics } = await new Parser().parse(text);
  const problems = diagnostics
    .filter((d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning)
    .map((d) => `${d.code} at ${d.path.join('.')}: ${d.message}`);
  if (document === undefined && problems.length === 0) problems.push('no document');
  return problems;
}

async function openApiProblems(doc: Json): Promise<string[]> {
  const result = await validateOpenApi(structuredClone(doc) as Parameters<typeof validateOpenApi>[0]);
  return [...(result.valid ? [] : result.errors), ...result.warnings].map((e) => e.message);
}

const get = (doc: Json, path: string): unknown =>
  path.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], doc);

describe('asyncapi.yaml', () => {
  const text = readFileSync(ASYNCAPI_FILE, 'utf8');
  const doc = loadYaml(ASYNCAPI_FILE);
  const schemas = (doc.components as { schemas: Record<string, Json> }).schemas;

  it('is a valid AsyncAPI 3.0 document for @asyncapi/parser, without errors or warnings', async () => {
    expect(doc.asyncapi).toBe('3.0.0');
    expect(await asyncApiProblems(text)).toEqual([]);
  });

  it('is refused by the parser when broken, so the check above can fail', async () => {
    const broken = structuredClone(doc);
    (broken.operations as Record<string, Json>).receiveSendMsg!.action = 'publish';
    expect(await asyncApiProblems(stringify(broken))).not.toEqual([]);
  });

  it('describes, as the parser reads it, the four client frames and eight server frames', async () => {
    const { document } = await new Parser().parse(text);
    expect(document!.messages().length).toBe(12);
    const byAction = (action: 'send' | 'receive'): string[] =>
      document!.operations().filter((o) => o.action() === action).flatMap((o) => o.messages().all().map((m) => m.name()!)).sort();
    expect(byAction('receive')).toEqual(['ack', 'heartbeat', 'refresh_token', 'send_msg']);
    expect(byAction('send')).toEqual(['auth_response', 'error', 'membership_change', 'message', 'read_receipt']);
    expect([...frameValidators(doc).keys()].sort()).toEqual([
      'client:ack', 'client:heartbeat', 'client:refresh_token', 'client:send_msg',
      'server:ack', 'server:auth_response', 'server:error', 'server:heartbeat_response',
      'server:membership_change', 'server:message', 'server:read_receipt', 'server:refresh_token_response',
    ]);
  });

  it('lists exactly the error codes of protocol/errors.ts', () => {
    expect(schemas.ErrorCode!.enum).toEqual(Object.values(ErrorCode));
  });

  it('lists exactly the close codes of protocol/errors.ts, by the same names', () => {
    const listed = get(doc, 'channels.ws.x-close-codes') as Array<{ code: number; name: string; description: string }>;
    const byCode = (entries: Array<[string, number]>): Array<[string, number]> => entries.sort((a, b) => a[1] - b[1]);
    expect(byCode(listed.map((c) => [c.name, c.code]))).toEqual(byCode(Object.entries(CloseCode)));
    for (const entry of listed) expect(entry.description, String(entry.code)).not.toBe('');
  });

  it('states the limits the gateway enforces', () => {
    const defaults = loadConfig({ JWT_SECRET: TEST_SECRET, GRPC_API_TOKENS: GRPC_API_TOKEN }).limits;
    expect(schemas.Id!.pattern).toBe(ID_PATTERN.source);
    expect(get(schemas, 'ErrorFrame.properties.msg_id.maxLength')).toBe(MAX_MSG_ID_LENGTH);
    expect(get(schemas, 'RefreshTokenFrame.properties.token.maxLength')).toBe(MAX_TOKEN_LENGTH);
    expect(schemas.Metadata!['x-max-depth']).toBe(MAX_METADATA_DEPTH);
    expect(schemas.Metadata!['x-max-entries']).toBe(MAX_METADATA_ENTRIES);
    expect(get(schemas, 'SendMsgFrame.properties.content.x-max-utf8-bytes')).toBe(defaults.maxContentBytes);
    expect(get(schemas, 'SendMsgFrame.properties.content.maxLength')).toBe(defaults.maxContentBytes);
    expect(get(doc, 'info.description')).toContain(`\`MAX_FRAME_BYTES\` = ${defaults.maxFrameBytes}`);
    expect(get(doc, 'info.description')).toContain(`\`MAX_FRAMES_PER_SECOND\` = ${defaults.maxFramesPerSecond}`);
  });

  it('names the three token forms the gateway reads', () => {
    const schemes = get(doc, 'components.securitySchemes') as Record<string, Json>;
    expect(schemes.bearerHeader).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(schemes.tokenQuery).toMatchObject({ type: 'httpApiKey', in: 'query', name: 'token' });
    expect(schemes.bearerSubprotocol).toMatchObject({ type: 'httpApiKey', in: 'header', name: 'Sec-WebSocket-Protocol' });
    expect(schemes.bearerSubprotocol!.description).toContain(`${SUBPROTOCOL}, bearer.<jwt>`);
  });
});

describe('openapi.yaml', () => {
  const doc = loadYaml(OPENAPI_FILE);

  it('is a valid OpenAPI 3.1 document for @readme/openapi-parser, without errors or warnings', async () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(await openApiProblems(doc)).toEqual([]);
  });

  it('is refused by the parser when broken, so the check above can fail', async () => {
    const broken = structuredClone(doc);
    delete (get(broken, 'paths./health.get.responses.200') as Json).description;
    expect(await openApiProblems(broken)).not.toEqual([]);
  });

  it('shares the id pattern with the gateway', () => {
    expect(get(doc, 'components.schemas.Id.pattern')).toBe(ID_PATTERN.source);
  });
});
