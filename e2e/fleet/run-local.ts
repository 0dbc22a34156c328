/**
 * Runs a fleet on this machine for trying it by hand: Redis, etcd and Kafka
 * in containers (after `npm run e2e:setup`), and N gateway processes.
 *   npm run fleet -- --nodes 3
 * Ctrl-C stops everything.
 */
import { parseArgs } from 'node:util';
import { startFleet } from './fleet.ts';
import { FLEET_ADMIN_TOKEN, FLEET_GRPC_API_TOKEN, FLEET_JWT_SECRET, FLEET_NODE_SECRET } from './gateway-process.ts';

const { values } = parseArgs({ options: { nodes: { type: 'string', default: '3' } } });
const size = Number(values.nodes);
if (!Number.isInteger(size) || size < 1 || size > 16) {
  process.stderr.write('usage: npm run fleet -- --nodes <1-16>\n');
  process.exit(2);
}

const fleet = await startFleet(size);
const out = [
  `redis   ${fleet.backends.redisUrl}`,
  `etcd    ${fleet.backends.etcdEndpoints.join(',')}`,
  `kafka   ${fleet.backends.kafkaBrokers.join(',')}`,
  ...fleet.nodes.map((n) => `${n.nodeId}    ${n.wsUrl}   http ${n.httpUrl}   grpc ${n.grpcAddress}`),
  '',
  `JWT_SECRET=${FLEET_JWT_SECRET}`,
  `ADMIN_TOKEN=${FLEET_ADMIN_TOKEN}`,
  `GRPC_API_TOKENS=${FLEET_GRPC_API_TOKEN}   (gRPC metadata authorization: Bearer <token>)`,
  `FLEET_SECRET=${FLEET_NODE_SECRET}`,
  `mint a token:  npm run -s token -- --secret ${FLEET_JWT_SECRET} --user alice --device phone`,
  'Ctrl-C stops the fleet.',
];
process.stdout.write(out.join('\n') + '\n');

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await fleet.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
