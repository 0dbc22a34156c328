/**
 * Dev mode only (`--dev`): the browser chat page under `/demo/`, the client
 * SDK it imports under `/demo/sdk/` (the SDK's build output, `client/dist/`),
 * and `/demo/token`, which mints a token for any user: that is why none of
 * this exists on a gateway started without `--dev`.
 */
import { fileURLToPath } from 'node:url';
import express from 'express';
import { mintToken } from '../auth/mint.ts';
import type { GatewayConfig } from '../config/config.ts';
import { apiError, checkedId } from './http-app.ts';

const PAGE_DIR = fileURLToPath(new URL('../../../demo/page/', import.meta.url));
const SDK_DIR = fileURLToPath(new URL('../../../client/dist/', import.meta.url));
const TOKEN_TTL_SECONDS = 3600;

export function demoRoutes(jwt: GatewayConfig['jwt']): express.Router {
  const demo = express.Router();
  demo.get('/token', async (req, res) => {
    // Tokens verified against JWKS or a public key come from their issuer; only a shared secret can mint here.
    if (jwt.secret === undefined) {
      return void res.status(403).json(apiError('DEV_TOKENS_DISABLED', 'the gateway verifies tokens with JWT_JWKS_URL or JWT_PUBLIC_KEY: mint them with that issuer'));
    }
    const userId = checkedId(req.query.user_id, 'user_id', res);
    if (userId === undefined) return;
    const deviceId = checkedId(req.query.device_id, 'device_id', res);
    if (deviceId === undefined) return;
    const token = await mintToken(userId, deviceId, { secret: jwt.secret, ttlSeconds: TOKEN_TTL_SECONDS, issuer: jwt.issuer, audience: jwt.audience });
    res.set('Cache-Control', 'no-store').json({ token, user_id: userId, device_id: deviceId, expires_in: TOKEN_TTL_SECONDS });
  });
  demo.use('/sdk', express.static(SDK_DIR), (_req, res) => {
    res.status(404).json(apiError('NOT_FOUND', 'no such file in the client SDK build: run `npm run client:build`'));
  });
  demo.use(express.static(PAGE_DIR));
  return demo;
}
