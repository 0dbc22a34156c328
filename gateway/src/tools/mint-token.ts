/**
 * Mints an HS256 token for trying the gateway:
 *   npm run token -- --user alice --device phone [--ttl 3600] [--secret S]
 * Signs with --secret, else JWT_SECRET, else the public dev secret (which only
 * a gateway in DEV_MODE accepts).
 */
import { parseArgs } from 'node:util';
import { mintToken } from '../auth/mint.ts';
import { DEV_JWT_SECRET } from '../config/config.ts';
import { isValidId } from '../protocol/validate.ts';

const { values } = parseArgs({
  options: {
    user: { type: 'string', default: 'alice' },
    device: { type: 'string', default: 'device-1' },
    ttl: { type: 'string', default: '3600' },
    secret: { type: 'string' },
    issuer: { type: 'string' },
    audience: { type: 'string' },
  },
});

const ttl = Number(values.ttl);
if (!isValidId(values.user) || !isValidId(values.device) || !Number.isInteger(ttl) || ttl <= 0) {
  process.stderr.write('usage: npm run token -- --user <id> --device <id> [--ttl seconds] [--secret s]\n');
  process.exit(2);
}
const secret = values.secret ?? process.env.JWT_SECRET ?? DEV_JWT_SECRET;
const jwt = await mintToken(values.user, values.device, { secret, ttlSeconds: ttl, issuer: values.issuer, audience: values.audience });
process.stdout.write(jwt + '\n');
