/**
 * REST: probes, metrics, stats, and the admin API for group membership.
 * Served on the same port as `/ws`.
 */
import { timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Groups } from '../messaging/groups.ts';
import type { GatewayMetrics } from '../observability/metrics.ts';
import { errorText, type Logger } from '../observability/logger.ts';
import { asGatewayError, ErrorCode, ERRORS } from '../protocol/errors.ts';
import { isValidId } from '../protocol/validate.ts';

export interface Readiness {
  ready: boolean;
  draining: boolean;
  dependencies: Record<string, string>;
}

export interface HttpAppParts {
  readiness: () => Promise<Readiness>;
  stats: () => Promise<Record<string, unknown>>;
  metrics: GatewayMetrics;
  groups: Groups;
  /** Enters draining without closing sockets (the operator closes them at its own pace). */
  markDraining: () => void;
  adminToken: string | undefined;
  log: Logger;
  /** The dev-mode demo page and its token endpoint, mounted at `/demo`; absent in production. */
  demo?: express.Router | undefined;
}

export function createHttpApp(parts: HttpAppParts): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);

  app.get('/health', (_req, res) => {
    res.json({ status: 'healthy', timestamp: new Date().toISOString() });
  });

  app.get('/ready', async (_req, res) => {
    const readiness = await parts.readiness();
    res.status(readiness.ready ? 200 : 503).json({
      status: readiness.ready ? 'ready' : readiness.draining ? 'draining' : 'not_ready',
      dependencies: readiness.dependencies,
    });
  });

  app.get('/metrics', async (_req, res) => {
    res.type(parts.metrics.registry.contentType).send(await parts.metrics.registry.metrics());
  });

  app.get('/stats', async (_req, res) => {
    res.json(await parts.stats());
  });

  const admin = express.Router();
  admin.use(requireAdmin(parts.adminToken));
  admin.get('/groups/:groupId/members', async (req, res) => {
    const groupId = checkedId(req.params.groupId, 'group_id', res);
    if (groupId === undefined) return;
    const members = await parts.groups.members(groupId);
    if (members.length === 0) return void res.status(404).json(apiError('NOT_FOUND', `group ${groupId} has no members`));
    res.json({ group_id: groupId, members });
  });
  admin.put('/groups/:groupId/members/:userId', async (req, res) => {
    const ids = groupAndUser(req, res);
    if (ids === undefined) return;
    const added = await parts.groups.join(ids.groupId, ids.userId);
    res.status(added ? 201 : 200).json({ group_id: ids.groupId, user_id: ids.userId, change_type: 'join', changed: added });
  });
  admin.delete('/groups/:groupId/members/:userId', async (req, res) => {
    const ids = groupAndUser(req, res);
    if (ids === undefined) return;
    const removed = await parts.groups.leave(ids.groupId, ids.userId);
    if (!removed) return void res.status(404).json(apiError('NOT_FOUND', `${ids.userId} is not a member of ${ids.groupId}`));
    res.json({ group_id: ids.groupId, user_id: ids.userId, change_type: 'leave', changed: true });
  });
  admin.post('/drain', (_req, res) => {
    parts.markDraining();
    res.status(202).json({ status: 'draining' });
  });
  app.use('/v1', admin);
  if (parts.demo !== undefined) app.use('/demo', parts.demo);

  app.use((_req, res) => {
    res.status(404).json(apiError('NOT_FOUND', 'no such endpoint'));
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    // The router's own 4xx (a path whose percent-encoding does not decode) is the request's fault, not a dependency's.
    const status = (err as { status?: unknown } | null)?.status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return void res.status(status).json(apiError('INVALID_MESSAGE_FORMAT', `bad request: ${errorText(err)}`));
    }
    parts.log.error('http_request_failed', { path: req.path, error: errorText(err) });
    const known = asGatewayError(err);
    res.status(ERRORS[known.code].http).json(apiError(known.code, known.message));
  });
  return app;
}

function requireAdmin(adminToken: string | undefined) {
  const expected = adminToken === undefined ? null : Buffer.from(adminToken);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (expected === null) {
      res.status(403).json(apiError('ADMIN_DISABLED', 'admin API is off: set ADMIN_TOKEN'));
      return;
    }
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    const given = Buffer.from(match?.[1] ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.status(ERRORS.AUTH_FAILED.http).set('WWW-Authenticate', 'Bearer').json(apiError(ErrorCode.AUTH_FAILED, 'admin bearer token required'));
      return;
    }
    next();
  };
}

function groupAndUser(req: Request, res: Response): { groupId: string; userId: string } | undefined {
  const groupId = checkedId(req.params.groupId, 'group_id', res);
  if (groupId === undefined) return undefined;
  const userId = checkedId(req.params.userId, 'user_id', res);
  return userId === undefined ? undefined : { groupId, userId };
}

export function checkedId(value: unknown, name: string, res: Response): string | undefined {
  if (isValidId(value)) return value;
  res.status(ERRORS.INVALID_MESSAGE_FORMAT.http).json(apiError(ErrorCode.INVALID_MESSAGE_FORMAT, `${name} must be 1-128 characters of A-Z a-z 0-9 _ . @ -`));
  return undefined;
}

export function apiError(code: string, message: string): { error_code: string; error_message: string } {
  return { error_code: code, error_message: message };
}
