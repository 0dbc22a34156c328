/**
 * The two API documents loaded for tests, and validators built from their
 * schemas (ajv, JSON Schema draft 2020-12). The AsyncAPI schemas keep to the
 * keywords draft-07 and 2020-12 share, so the gateway's document validates
 * the same either way; the OpenAPI 3.1 ones are 2020-12 by definition.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { parse } from 'yaml';

export const ASYNCAPI_FILE = fileURLToPath(new URL('../../asyncapi.yaml', import.meta.url));
export const OPENAPI_FILE = fileURLToPath(new URL('../../openapi.yaml', import.meta.url));

export type Json = Record<string, unknown>;

export function loadYaml(file: string): Json {
  return parse(readFileSync(file, 'utf8')) as Json;
}

// ajv-formats is CommonJS with its function as the default export's `default`.
const addFormats = addFormatsModule as unknown as { default: (ajv: Ajv2020) => void };

/** Which side wrote a frame. */
export type Direction = 'client' | 'server';
/** `client:send_msg`, `server:ack`, ... */
export type FrameKey = `${Direction}:${string}`;

/**
 * The limits the gateway enforces that JSON Schema has no keyword for, checked
 * for real so a frame past them fails validation as the gateway refuses it.
 */
function addLimitKeywords(ajv: Ajv2020): void {
  ajv.addKeyword({
    keyword: 'x-max-utf8-bytes',
    type: 'string',
    schemaType: 'number',
    validate: (max: number, data: string) => Buffer.byteLength(data, 'utf8') <= max,
  });
  ajv.addKeyword({
    keyword: 'x-max-depth',
    type: 'object',
    schemaType: 'number',
    validate: (max: number, data: object) => depth(data) <= max,
  });
  ajv.addKeyword({
    keyword: 'x-max-entries',
    type: 'object',
    schemaType: 'number',
    validate: (max: number, data: object) => entries(data) <= max,
  });
}

function children(value: object): unknown[] {
  return Array.isArray(value) ? value : Object.values(value);
}

function depth(value: object): number {
  let deepest = 0;
  for (const child of children(value)) {
    if (child !== null && typeof child === 'object') deepest = Math.max(deepest, depth(child));
  }
  return deepest + 1;
}

function entries(value: object): number {
  let count = 0;
  for (const child of children(value)) {
    count += 1 + (child !== null && typeof child === 'object' ? entries(child) : 0);
  }
  return count;
}

/**
 * An ajv holding `doc` under `id`, so that `#/components/...` refs inside its
 * schemas resolve; the document's other top-level keys are not schema keywords
 * and are registered as inert ones.
 */
function ajvFor(id: string, doc: Json): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true });
  addFormats.default(ajv);
  addLimitKeywords(ajv);
  for (const key of Object.keys(doc)) ajv.addKeyword({ keyword: key });
  ajv.addSchema({ ...doc, $id: id });
  return ajv;
}

function compile(ajv: Ajv2020, ref: string): ValidateFunction {
  const validate = ajv.getSchema(ref);
  if (validate === undefined) throw new Error(`no schema at ${ref}`);
  return validate;
}

interface AsyncOperation {
  action: 'send' | 'receive';
  messages: Array<{ $ref: string }>;
  reply?: { messages?: Array<{ $ref: string }> };
}

/** The payload validator of every frame the AsyncAPI document describes, by direction and `type`. */
export function frameValidators(doc: Json = loadYaml(ASYNCAPI_FILE)): Map<FrameKey, ValidateFunction> {
  const id = 'urn:im-gateway:asyncapi';
  const ajv = ajvFor(id, doc);
  const channels = doc.channels as Record<string, { messages: Record<string, { $ref: string }> }>;
  const components = doc.components as { messages: Record<string, { payload: { $ref: string } }>; schemas: Record<string, Json> };
  const payloadRef = (ref: string): string => {
    const [, channel, name] = /^#\/channels\/([^/]+)\/messages\/([^/]+)$/.exec(ref) ?? [];
    const target = channels[channel!]?.messages[name!]?.$ref ?? '';
    const message = components.messages[target.replace('#/components/messages/', '')];
    if (message === undefined) throw new Error(`cannot resolve ${ref}`);
    return message.payload.$ref;
  };
  const out = new Map<FrameKey, ValidateFunction>();
  const add = (direction: Direction, ref: string): void => {
    const schemaRef = payloadRef(ref);
    const schema = components.schemas[schemaRef.replace('#/components/schemas/', '')];
    const type = (schema?.properties as Record<string, { const?: string }> | undefined)?.type?.const;
    if (type === undefined) throw new Error(`${schemaRef} has no const type`);
    out.set(`${direction}:${type}`, compile(ajv, `${id}${schemaRef}`));
  };
  // The document takes the gateway's side: it receives client frames and sends its own; a reply goes the other way.
  for (const operation of Object.values(doc.operations as Record<string, AsyncOperation>)) {
    const direction: Direction = operation.action === 'receive' ? 'client' : 'server';
    const replyDirection: Direction = direction === 'client' ? 'server' : 'client';
    for (const message of operation.messages) add(direction, message.$ref);
    for (const message of operation.reply?.messages ?? []) add(replyDirection, message.$ref);
  }
  return out;
}

/** The OpenAPI document with an ajv that validates against any schema in it by JSON pointer. */
export function openApiValidator(doc: Json = loadYaml(OPENAPI_FILE)): (pointer: string) => ValidateFunction {
  const id = 'urn:im-gateway:openapi';
  const ajv = ajvFor(id, doc);
  return (pointer) => compile(ajv, `${id}#${pointer}`);
}

/** ajv's errors as one readable line. */
export function problems(validate: ValidateFunction): string {
  return (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`).join('; ');
}
