// Pod IPs for the fake kubelet: loopback addresses 127.0.0.2 and up, all of
// which route to lo on Linux, so a workload can bind its real ports on them.
// Leases are files holding the owner's pid, so that test files running in
// parallel processes never hand out the same address; a dead owner's lease
// is taken over.
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LEASE_DIR = join(tmpdir(), 'imgw-loopback-leases');
// 127.0.0.2 .. 127.0.255.254, skipping .0 and .255 in each /24.
const FIRST = 2;
const LAST = 255 * 256 + 254;

function address(n: number): string {
  return `127.0.${n >> 8}.${n & 255}`;
}

function ownerAlive(file: string): boolean {
  try {
    const pid = Number(readFileSync(file, 'utf8'));
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryLease(file: string): boolean {
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  }
}

/** Leases the lowest free loopback address (127.0.0.2 first). */
export function leaseLoopbackAddress(): string {
  mkdirSync(LEASE_DIR, { recursive: true });
  for (let n = FIRST; n <= LAST; n++) {
    if ((n & 255) === 0 || (n & 255) === 255) continue;
    const ip = address(n);
    const file = join(LEASE_DIR, ip);
    if (tryLease(file)) return ip;
    if (ownerAlive(file)) continue;
    // A stale lease: remove it and race for it like anyone else.
    try {
      unlinkSync(file);
    } catch {
      // Another process removed it first.
    }
    if (tryLease(file)) return ip;
  }
  throw new Error('no free loopback address in 127.0.0.0/16');
}

/** Returns an address leased by this process. */
export function releaseLoopbackAddress(ip: string): void {
  const file = join(LEASE_DIR, ip);
  try {
    if (readFileSync(file, 'utf8') === String(process.pid)) unlinkSync(file);
  } catch {
    // Already gone.
  }
}
