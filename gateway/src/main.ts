/**
 * Composition root of the gateway process: config, backends, node, signals.
 */
import { closeBackends, createBackends } from './backends.ts';
import { ConfigError, DEV_ADMIN_TOKEN, DEV_FLEET_SECRET, DEV_GRPC_API_TOKEN, DEV_JWT_SECRET, loadConfig, type GatewayConfig } from './config/config.ts';
import { GatewayNode } from './node.ts';
import { createLogger, errorText } from './observability/logger.ts';

async function main(): Promise<void> {
  const env = { ...process.env };
  if (process.argv.includes('--dev')) env.DEV_MODE = 'true';
  const config = loadConfig(env);
  if (config.devMode) warnDevMode(config);
  const log = createLogger(config.logLevel, { node: config.nodeId });
  const backends = createBackends(config, log);
  const node = new GatewayNode(config, backends, log);
  await node.start();

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    node.log.info('shutdown_requested', { signal });
    await node.drain();
    await node.stop();
    await closeBackends(backends);
    node.log.info('shutdown_complete');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

function warnDevMode(config: GatewayConfig): void {
  const lines = [
    'DEV MODE: NOT FOR PRODUCTION',
    ...(config.jwt.secret === DEV_JWT_SECRET ? ['JWT secret is the public dev secret: anyone can mint tokens.'] : []),
    ...(config.adminToken === DEV_ADMIN_TOKEN ? [`Admin API token: ${DEV_ADMIN_TOKEN}`] : []),
    ...(config.grpcApiTokens.includes(DEV_GRPC_API_TOKEN) ? [`gRPC API token: ${DEV_GRPC_API_TOKEN}  (metadata authorization: Bearer <token>)`] : []),
    ...(config.peers.secrets.includes(DEV_FLEET_SECRET) ? ['Fleet secret is the public dev fleet secret.'] : []),
    'Mint a token:  npm run token -- --user alice --device phone',
  ];
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const rule = '#'.repeat(width + 2);
  const boxed = lines.map((l) => `#  ${l.padEnd(width - 2)}#`);
  process.stderr.write(['', rule, ...boxed, rule, '', ''].map((l) => (l === '' ? l : `  ${l}`)).join('\n'));
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError ? `configuration error: ${err.message}` : `startup failed: ${errorText(err)}`;
  process.stderr.write(`im-gateway: ${message}\n`);
  process.exit(1);
});
