/**
 * The fleet's shared store on Redis: every gateway node of a fleet talks to
 * the same Redis, so a device can reconnect to any node and find its logs,
 * cursors, dedup keys, groups and rate bucket. Same semantics as MemoryStore.
 *
 * Keys (`<p>` is the key prefix, 'im:' by default; ids never contain ':' or
 * spaces, so every key and member below is unambiguous):
 *
 *   <p>log:<logId>               list, oldest first, one item per entry:
 *                                `<pos> <storedAt> <senderDevice> <targetDevice> <frame JSON>`
 *                                (devices '' when absent; the frame JSON as given).
 *                                Trimmed to maxEntries at append and by age at
 *                                append and read; TTL maxAge + 1 min, so an
 *                                idle log vanishes whole.
 *   <p>seq:<logId>               string, the log's last position (INCR). No TTL.
 *   <p>dedup:<scope>:<id>        string, the position first stored under the key; TTL dedupTtl.
 *   <p>msg:<msgId>               set of `<logId> <pos> <senderId>`: where a msg_id
 *                                was stored, for client acks; TTL like the log.
 *   <p>convs:<userId>            set of the user's d: logs; TTL idle (below).
 *   <p>cursor:<userId>:<device>  hash logId -> acked position, max-only; TTL idle.
 *   <p>members:<groupId>         hash userId -> floor (g:<groupId> position at join). No TTL.
 *   <p>groups:<userId>           hash groupId -> floor. No TTL.
 *   <p>mfloors:<userId>          hash groupId -> m:<groupId> position at join. Its own hash,
 *                                so the two above keep the form older versions read. No TTL.
 *   <p>groupset                  set of group ids with at least one member.
 *   <p>rate:<userId>             hash tokens, at: the user's token bucket; TTL one window.
 *   <p>outbox:<nodeId>           stream of `l` (log id), `e` (the entry, as in the log) for
 *                                each message or membership change the node stored whose
 *                                live delivery and message-log record are not done yet;
 *                                written by the append script, XDEL'd once they are.
 *   <p>outbox-claim:<nodeId>     string, who handles that outbox: the node itself, renewed
 *                                every few seconds, or a node that adopted it; PX expiry.
 *   <p>outboxes                  set of node ids that have an outbox (each owner lists its
 *                                own with every renewal of its claim).
 *
 * Why a list per log rather than a sorted set or a stream: positions are
 * contiguous and only the oldest entries are ever dropped, so the entry at
 * position n is at index n - firstPos and a list gives every operation a log
 * needs (RPUSH, LRANGE from an index, LTRIM of the head) in its most compact
 * form. Measured on Redis 7.0 with 280-byte frames, per log: 1 entry 0.45 KB
 * as a list, 1.3 KB as a sorted set (members this long leave the listpack
 * encoding), 4.7 KB as a stream (a new stream node preallocates 4 KB); 1000
 * entries 317, 470 and 356 KB. Chat has many short conversations, so the
 * small end matters most. The store time leads each item, so the age trim
 * reads it without parsing JSON.
 *
 * Why position counters never expire: a device cursor may name a position
 * for as long as the device stays away. If a counter restarted, the new
 * entries 1..cursor would sit at or below that cursor and the device would
 * skip them without a word. A counter costs one small key per log ever
 * written, bounded by the number of conversations, groups and users.
 * Cursors and conversation indexes do expire, after IDLE_TTL_MIN_MS (or
 * twice the retention age, if longer) without use: by then every retained
 * entry was stored after the device's last ack, so a device that returns
 * as a stranger replays exactly what it has not acked; only the
 * HISTORY_TRUNCATED warning for what aged out in between is lost.
 *
 * The scripts touch keys they compute (findMessage reads logs named in the
 * index), so this runs against one primary (standalone, or Sentinel for
 * failover), not Redis Cluster.
 *
 * Persistence: the no-loss promise needs `appendonly yes` and
 * `maxmemory-policy noeviction`. With `appendfsync everysec` an acknowledged
 * append survives a Redis crash but the host's loss may take its last
 * second; `always` survives both. An evicted counter would restart
 * numbering, an evicted log would lose acknowledged messages. Replication is
 * asynchronous: a Sentinel failover may lose writes the replica had not yet.
 */
import { Redis } from 'ioredis';
import { frameAt, type LogEntry } from '../conversation-log/entry.ts';
import { groupLog, membershipLog, parseLogId, type LogId } from '../conversation-log/log-id.ts';
import type { LoggedFrame } from '../protocol/frames.ts';
import type { AppendOptions, AppendResult, GroupFloors, LogPage, MessageLocation, Outbox, OutboxItem, RateLimit, Retention, Store } from './store.ts';
import { DEFAULT_REDIS_KEY_PREFIX } from '../config/defaults.ts';

export interface RedisStoreOptions {
  /** redis:// or rediss:// URL, with credentials and database if any. */
  url: string;
  /** Prefix of every key, so several fleets can share one Redis. Default DEFAULT_REDIS_KEY_PREFIX. */
  keyPrefix?: string;
  retention: Retention;
  rate: RateLimit;
  /** Per connection attempt, and how long start() waits for Redis. Default 5000. */
  connectTimeoutMs?: number;
  /** A command (or a silent connection) fails after this long. Default 2000. */
  commandTimeoutMs?: number;
  /** The node whose outbox appends with `outbox` write to; needed for them. */
  nodeId?: string;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 2_000;
const HEALTH_TIMEOUT_MS = 500;
/** Appends per script call at most: a script blocks Redis for its whole run. */
const MAX_APPEND_BATCH = 64;
/** Reconnect backoff cap: a node finds Redis again within a second of its return. */
const MAX_RECONNECT_DELAY_MS = 1_000;
/** A log key outlives its newest entry's retention by this much, then expires whole. */
const LOG_TTL_SLACK_MS = 60_000;
/** Cursors and conversation indexes live at least this long without use. */
const IDLE_TTL_MIN_MS = 30 * 24 * 3_600_000;

/**
 * Helpers shared by the scripts. Entries are stored in time order (positions
 * and Redis' own clock grow together), so the aged ones form a prefix.
 */
const LUA_PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function pos_of(entry)
  return tonumber(string.match(entry, '^(%d+)'))
end

local function stored_at(entry)
  return tonumber(string.match(entry, '^%d+ (%d+)'))
end

-- A token bucket of \`limit\` tokens refilled evenly over the window, as
-- MemoryStore's. Nodes' clocks differ a little: time never runs backwards
-- for a bucket, so a node behind cannot refill it twice. Returns 1 when allowed.
local function consume_rate(key, limit, window, now)
  local bucket = redis.call('HMGET', key, 'tokens', 'at')
  local tokens, at = limit, now
  if bucket[1] then
    at = math.max(now, tonumber(bucket[2]))
    tokens = math.min(limit, tonumber(bucket[1]) + (at - tonumber(bucket[2])) * limit / window)
  end
  local allowed = 0
  if tokens >= 1 then
    tokens = tokens - 1
    allowed = 1
  end
  redis.call('HSET', key, 'tokens', string.format('%.17g', tokens), 'at', string.format('%d', at))
  redis.call('PEXPIRE', key, window)
  return allowed
end

-- Drops entries stored before cutoff; returns the oldest entry left, or false.
local function trim_aged(log, cutoff)
  local head = redis.call('LINDEX', log, 0)
  if not head or stored_at(head) >= cutoff then return head end
  local len = redis.call('LLEN', log)
  if stored_at(redis.call('LINDEX', log, len - 1)) < cutoff then
    redis.call('DEL', log)
    return false
  end
  -- Entries at index <= lo are aged, entries at index >= hi are young.
  local lo, hi = 0, len - 1
  while hi - lo > 1 do
    local mid = math.floor((lo + hi) / 2)
    if stored_at(redis.call('LINDEX', log, mid)) < cutoff then lo = mid else hi = mid end
  end
  redis.call('LTRIM', log, hi, -1)
  return redis.call('LINDEX', log, 0)
end
`;

/**
 * Several appends in one call (those a node issues within one turn of its
 * event loop), each exactly as if made alone, in order: one command, one
 * script run and one reply for all of them.
 * ARGV: maxEntries, maxAgeMs, logTtlMs, idleTtlMs, rate window, then per
 *       append 11 values: its key count, dedupTtlMs (0: no dedup), logId,
 *       senderId ('' for frames other than messages), senderDevice,
 *       targetDevice, frame JSON, outbox owner ('' for none), rate limit
 *       ('' to count none), now (sender's node), member to check ('' for none).
 * KEYS, per append in the same order: log, seq, dedup, msg index, outbox
 *       stream, members of the group the sender must be in, sender's rate
 *       bucket, then the participants' convs sets.
 * Returns per append {1, pos, storedAt, outbox id or ''}, {0, original pos}
 * for a duplicate, {2} when the sender is not a member, {3} when over the
 * rate. Dedup comes first: a retry is answered without counting against the rate.
 */
const APPEND = `${LUA_PRELUDE}
local max_entries, max_age, log_ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local idle_ttl, window = ARGV[4], tonumber(ARGV[5])
local now = now_ms()

local function append_one(k, a, nkeys)
  local log, dedup, msg_index = KEYS[k], KEYS[k + 2], KEYS[k + 3]
  local dedup_ttl, log_id, sender = tonumber(ARGV[a + 1]), ARGV[a + 2], ARGV[a + 3]
  if dedup_ttl > 0 then
    local seen = redis.call('GET', dedup)
    if seen then return {0, tonumber(seen)} end
  end
  local member = ARGV[a + 10]
  if member ~= '' and redis.call('HEXISTS', KEYS[k + 5], member) == 0 then return {2} end
  if ARGV[a + 8] ~= '' and consume_rate(KEYS[k + 6], tonumber(ARGV[a + 8]), window, tonumber(ARGV[a + 9])) == 0 then return {3} end
  local pos = redis.call('INCR', KEYS[k + 1])
  local item = string.format('%d %d %s %s ', pos, now, ARGV[a + 4], ARGV[a + 5]) .. ARGV[a + 6]
  local len = redis.call('RPUSH', log, item)
  if len > max_entries then redis.call('LTRIM', log, len - max_entries, -1) end
  redis.call('PEXPIRE', log, log_ttl)
  if dedup_ttl > 0 then redis.call('SET', dedup, pos, 'PX', dedup_ttl) end
  if sender ~= '' then
    redis.call('SADD', msg_index, string.format('%s %d %s', log_id, pos, sender))
    redis.call('PEXPIRE', msg_index, log_ttl)
  end
  local outbox_id = ''
  if ARGV[a + 7] ~= '' then outbox_id = redis.call('XADD', KEYS[k + 4], '*', 'l', log_id, 'e', item) end
  for i = k + 7, k + nkeys - 1 do
    redis.call('SADD', KEYS[i], log_id)
    redis.call('PEXPIRE', KEYS[i], idle_ttl)
  end
  trim_aged(log, now - max_age)
  return {1, pos, now, outbox_id}
end

local results, k, a = {}, 1, 6
while a <= #ARGV do
  local nkeys = tonumber(ARGV[a])
  results[#results + 1] = append_one(k, a, nkeys)
  k, a = k + nkeys, a + 11
end
return results
`;

/** KEYS: outbox stream. ARGV: olderThanMs, count. Items recorded before (Redis' clock) now - olderThanMs. */
const OUTBOX_STALE = `${LUA_PRELUDE}
local cutoff = now_ms() - tonumber(ARGV[1])
if cutoff < 0 then return {} end
return redis.call('XRANGE', KEYS[1], '-', cutoff, 'COUNT', ARGV[2])
`;

/**
 * KEYS: claim, outboxes set. ARGV: holder, ttlMs, owner. Returns 1 when the
 * holder has the claim (taken or renewed). The owner always gets its own
 * outbox back (a node restarted under the same id after another adopted its
 * outbox: the adopter's next claim fails and it stops). The owner's claim
 * also lists the outbox, so that one retired by an adopter (which found it
 * empty) is listed again within a sweep, and appends need not list it.
 */
const OUTBOX_CLAIM = `
local owner = ARGV[1] == ARGV[3]
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] and not owner then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if owner then redis.call('SADD', KEYS[2], ARGV[3]) end
return 1
`;

/** KEYS: outbox stream, outboxes set. ARGV: owner. Forgets an empty outbox; 1 when it was empty. */
const OUTBOX_RETIRE = `
if redis.call('XLEN', KEYS[1]) > 0 then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
`;

/**
 * KEYS: log, seq. ARGV: afterPos, limit, maxAgeMs.
 * Returns {firstPos, lastPos, entries}.
 */
const READ = `${LUA_PRELUDE}
local after, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local head = trim_aged(KEYS[1], now_ms() - tonumber(ARGV[3]))
local last = tonumber(redis.call('GET', KEYS[2]) or '0')
if not head then return {0, last, {}} end
local first = pos_of(head)
if limit <= 0 then return {first, last, {}} end
local start = math.max(after + 1, first) - first
return {first, last, redis.call('LRANGE', KEYS[1], start, start + limit - 1)}
`;

/**
 * KEYS: msg index. ARGV: log key prefix, maxAgeMs.
 * Returns the locations whose entry is still retained: the index itself is
 * only cleaned by its TTL, so trimming a log stays cheap.
 */
const FIND_MESSAGE = `${LUA_PRELUDE}
local cutoff = now_ms() - tonumber(ARGV[2])
local found = {}
for _, location in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local log, pos = string.match(location, '^(%S+) (%d+) ')
  local key = ARGV[1] .. log
  pos = tonumber(pos)
  local head = redis.call('LINDEX', key, 0)
  if head and pos >= pos_of(head) then
    local entry = redis.call('LINDEX', key, pos - pos_of(head))
    if entry and stored_at(entry) >= cutoff then found[#found + 1] = location end
  end
end
return found
`;

/** KEYS: cursor hash. ARGV: logId, pos, idleTtlMs. */
const ADVANCE_CURSOR = `
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]))
if current == nil or current < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
`;

/**
 * KEYS: members, groups of the user, groupset, group log seq, membership
 * floors of the user, membership log seq. ARGV: userId, groupId. The floors
 * are read in the same script as the join, so no message or membership
 * change can slip between them. Returns {added 0|1, g: floor, m: floor}.
 */
const ADD_MEMBER = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then return {0, tonumber(existing), tonumber(redis.call('HGET', KEYS[5], ARGV[2]) or '0')} end
local floor = tonumber(redis.call('GET', KEYS[4]) or '0')
local mfloor = tonumber(redis.call('GET', KEYS[6]) or '0')
redis.call('HSET', KEYS[1], ARGV[1], floor)
redis.call('HSET', KEYS[2], ARGV[2], floor)
redis.call('HSET', KEYS[5], ARGV[2], mfloor)
redis.call('SADD', KEYS[3], ARGV[2])
return {1, floor, mfloor}
`;

/** KEYS: members, groups of the user, groupset, membership floors of the user. ARGV: userId, groupId. */
const REMOVE_MEMBER = `
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[2])
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
return 1
`;

const SCRIPTS = {
  imAppend: APPEND,
  imRead: READ,
  imFindMessage: FIND_MESSAGE,
  imAdvanceCursor: ADVANCE_CURSOR,
  imAddMember: ADD_MEMBER,
  imRemoveMember: REMOVE_MEMBER,
  imOutboxStale: OUTBOX_STALE,
  imOutboxClaim: OUTBOX_CLAIM,
  imOutboxRetire: OUTBOX_RETIRE,
} as const;

type Arg = string | number;

/** The scripts as defineCommand adds them (the key count comes first). */
interface ScriptCommands {
  imAppend(numKeys: number, ...args: Arg[]): Promise<Array<[0, number] | [1, number, number, string] | [2] | [3]>>;
  imRead(numKeys: number, ...args: Arg[]): Promise<[number, number, string[]]>;
  imFindMessage(numKeys: number, ...args: Arg[]): Promise<string[]>;
  imAdvanceCursor(numKeys: number, ...args: Arg[]): Promise<null>;
  imAddMember(numKeys: number, ...args: Arg[]): Promise<[number, number, number]>;
  imRemoveMember(numKeys: number, ...args: Arg[]): Promise<number>;
  imOutboxStale(numKeys: number, ...args: Arg[]): Promise<Array<[string, string[]]>>;
  imOutboxClaim(numKeys: number, ...args: Arg[]): Promise<number>;
  imOutboxRetire(numKeys: number, ...args: Arg[]): Promise<number>;
}

/** One append waiting for its turn's script call: its keys and values, and how to answer it. */
interface QueuedAppend {
  log: LogId;
  frame: LoggedFrame;
  senderDevice: string | undefined;
  targetDevice: string | undefined;
  keys: string[];
  args: Arg[];
  resolve(result: AppendResult): void;
  reject(err: unknown): void;
}

function appendResult(queued: QueuedAppend, reply: [0, number] | [1, number, number, string] | [2] | [3]): AppendResult {
  if (reply[0] === 0) return { status: 'duplicate', pos: reply[1] };
  if (reply[0] === 2) return { status: 'refused', reason: 'not_member' };
  if (reply[0] === 3) return { status: 'refused', reason: 'rate_limited' };
  const [, pos, storedAt, outboxId] = reply;
  const { frame, log, senderDevice, targetDevice } = queued;
  const entry: LogEntry = { pos, frame: frameAt(log, pos, frame), storedAt };
  if (senderDevice !== undefined) entry.senderDevice = senderDevice;
  if (targetDevice !== undefined) entry.targetDevice = targetDevice;
  return outboxId === '' ? { status: 'appended', entry } : { status: 'appended', entry, outboxId };
}

export class RedisStore implements Store, Outbox {
  readonly name = 'redis';
  readonly outbox: Outbox = this;
  readonly keyPrefix: string;
  private readonly nodeId: string | undefined;
  private readonly redis: Redis & ScriptCommands;
  private readonly retention: Retention;
  private readonly rate: RateLimit;
  private readonly connectTimeoutMs: number;
  private readonly logTtlMs: number;
  private readonly idleTtlMs: number;
  private lastError: Error | undefined;
  private closed = false;
  /** Appends waiting for this turn's script call. */
  private appends: QueuedAppend[] = [];

  constructor(options: RedisStoreOptions) {
    this.keyPrefix = options.keyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
    this.nodeId = options.nodeId;
    this.retention = options.retention;
    this.rate = options.rate;
    this.connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.logTtlMs = Math.ceil(options.retention.maxAgeMs) + LOG_TTL_SLACK_MS;
    this.idleTtlMs = Math.max(2 * Math.ceil(options.retention.maxAgeMs), IDLE_TTL_MIN_MS);
    const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.redis = new Redis(options.url, {
      lazyConnect: true,
      connectTimeout: this.connectTimeoutMs,
      // Fail fast while Redis is away, so a sender hears CACHE_ERROR at once
      // and retries with the same msg_id: no queueing while disconnected, and
      // no silent resend of a command that may have run (dedup covers a
      // client's retry, not a second append of a notification).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: commandTimeoutMs,
      // A connection that stops answering (host gone, no RST) is dropped and
      // redialled instead of waiting minutes for TCP keepalive.
      socketTimeout: commandTimeoutMs,
      // Never gives up: the node serves again as soon as Redis is back.
      retryStrategy: (attempt) => Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS),
    }) as Redis & ScriptCommands;
    // Connection errors surface as rejected calls and healthy() === false;
    // without a listener ioredis would print each reconnect failure.
    this.redis.on('error', (err: Error) => {
      this.lastError = err;
    });
    for (const [name, lua] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { lua });
  }

  /** Connects, waiting up to connectTimeoutMs for Redis, and checks that every script compiles. */
  async start(): Promise<void> {
    // A failed first attempt is retried by ioredis itself; wait for readiness instead.
    this.redis.connect().catch(() => undefined);
    await this.ready();
    const load = this.redis.pipeline();
    for (const lua of Object.values(SCRIPTS)) load.script('LOAD', lua);
    for (const [err] of (await load.exec()) ?? []) if (err) throw err;
  }

  async healthy(): Promise<boolean> {
    if (this.redis.status !== 'ready') return false;
    try {
      return (await within(this.redis.ping(), HEALTH_TIMEOUT_MS)) === 'PONG';
    } catch {
      return false;
    }
  }

  append(log: LogId, frame: LoggedFrame, options: AppendOptions = {}): Promise<AppendResult> {
    const p = this.keyPrefix;
    const { dedup, senderDevice, targetDevice, participants = [], sender } = options;
    const isMessage = frame.type === 'message';
    const owner = options.outbox === true ? this.nodeId : '';
    if (owner === undefined) return Promise.reject(new Error('RedisStore: an append to the outbox needs the nodeId option'));
    const memberOf = sender?.mustBeMemberOf;
    const keys = [
      `${p}log:${log}`,
      `${p}seq:${log}`,
      `${p}dedup:${dedup === undefined ? '' : `${dedup.scope}:${dedup.id}`}`,
      `${p}msg:${isMessage ? frame.msg_id : ''}`,
      `${p}outbox:${owner}`,
      `${p}members:${memberOf ?? ''}`,
      `${p}rate:${sender?.userId ?? ''}`,
      ...participants.map((user) => `${p}convs:${user}`),
    ];
    const args: Arg[] = [
      keys.length,
      dedup === undefined ? 0 : Math.max(1, Math.ceil(this.retention.dedupTtlMs)),
      log,
      isMessage ? frame.sender_id : '',
      senderDevice ?? '',
      targetDevice ?? '',
      JSON.stringify(frame),
      owner,
      sender === undefined ? '' : this.rate.limit,
      Math.floor(sender?.now ?? 0),
      memberOf === undefined ? '' : sender!.userId,
    ];
    return new Promise<AppendResult>((resolve, reject) => {
      if (this.appends.push({ log, frame, senderDevice, targetDevice, keys, args, resolve, reject }) === 1) setImmediate(this.flushAppends);
    });
  }

  /**
   * Sends the appends queued during this turn of the event loop in one
   * script call (in chunks of MAX_APPEND_BATCH): a send costs one command,
   * script run and reply between them instead of one each.
   */
  private readonly flushAppends = (): void => {
    const queued = this.appends;
    this.appends = [];
    for (let from = 0; from < queued.length; from += MAX_APPEND_BATCH) {
      const batch = queued.slice(from, from + MAX_APPEND_BATCH);
      const keys: string[] = [];
      const args: Arg[] = [this.retention.maxEntries, this.retention.maxAgeMs, this.logTtlMs, this.idleTtlMs, Math.ceil(this.rate.windowMs)];
      for (const queuedAppend of batch) {
        keys.push(...queuedAppend.keys);
        args.push(...queuedAppend.args);
      }
      this.redis.imAppend(keys.length, ...keys, ...args).then(
        (replies) => batch.forEach((queuedAppend, i) => queuedAppend.resolve(appendResult(queuedAppend, replies[i]!))),
        (err: unknown) => batch.forEach((queuedAppend) => queuedAppend.reject(err)),
      );
    }
  };

  async stale(owner: string, olderThanMs: number, count: number): Promise<OutboxItem[]> {
    const raw = await this.redis.imOutboxStale(1, `${this.keyPrefix}outbox:${owner}`, Math.max(0, Math.floor(olderThanMs)), count);
    return raw.flatMap(([id, fields]) => {
      const log = parseLogId(fields[fields.indexOf('l') + 1]!);
      return log === undefined ? [] : [{ id, log, entry: parseEntry(fields[fields.indexOf('e') + 1]!, log) }];
    });
  }

  async remove(owner: string, ids: readonly string[]): Promise<void> {
    if (ids.length > 0) await this.redis.xdel(`${this.keyPrefix}outbox:${owner}`, ...ids);
  }

  async claim(owner: string, holder: string, ttlMs: number): Promise<boolean> {
    const p = this.keyPrefix;
    return (await this.redis.imOutboxClaim(2, `${p}outbox-claim:${owner}`, `${p}outboxes`, holder, Math.ceil(ttlMs), owner)) === 1;
  }

  async retire(owner: string): Promise<boolean> {
    const p = this.keyPrefix;
    return (await this.redis.imOutboxRetire(2, `${p}outbox:${owner}`, `${p}outboxes`, owner)) === 1;
  }

  async owners(): Promise<string[]> {
    return this.redis.smembers(`${this.keyPrefix}outboxes`);
  }

  async read(log: LogId, afterPos: number, limit: number): Promise<LogPage> {
    const p = this.keyPrefix;
    const [firstPos, lastPos, raw] = await this.redis.imRead(
      2,
      `${p}log:${log}`,
      `${p}seq:${log}`,
      Math.max(0, Math.floor(afterPos)),
      Math.floor(limit),
      this.retention.maxAgeMs,
    );
    const entries = raw.map((item) => parseEntry(item, log));
    return { entries, firstPos, lastPos };
  }

  async lastPositions(logs: readonly LogId[]): Promise<number[]> {
    if (logs.length === 0) return [];
    const values = await this.redis.mget(logs.map((log) => `${this.keyPrefix}seq:${log}`));
    return values.map((value) => (value === null ? 0 : Number(value)));
  }

  async userConversations(userId: string): Promise<LogId[]> {
    return logIds(await this.redis.smembers(`${this.keyPrefix}convs:${userId}`));
  }

  async findMessage(msgId: string): Promise<MessageLocation[]> {
    const p = this.keyPrefix;
    const found = await this.redis.imFindMessage(1, `${p}msg:${msgId}`, `${p}log:`, this.retention.maxAgeMs);
    return found.flatMap((location) => {
      const [text, pos, senderId] = location.split(' ') as [string, string, string];
      const conversation = parseLogId(text);
      return conversation === undefined ? [] : [{ conversation, pos: Number(pos), senderId }];
    });
  }

  async cursors(userId: string, deviceId: string): Promise<Map<LogId, number>> {
    const hash = await this.redis.hgetall(`${this.keyPrefix}cursor:${userId}:${deviceId}`);
    const cursors = new Map<LogId, number>();
    for (const [key, value] of Object.entries(hash)) {
      const log = parseLogId(key);
      if (log !== undefined) cursors.set(log, Number(value));
    }
    return cursors;
  }

  async advanceCursor(userId: string, deviceId: string, log: LogId, pos: number): Promise<void> {
    await this.redis.imAdvanceCursor(1, `${this.keyPrefix}cursor:${userId}:${deviceId}`, log, pos, this.idleTtlMs);
  }

  async addMember(groupId: string, userId: string): Promise<{ added: boolean; floor: GroupFloors }> {
    const p = this.keyPrefix;
    const [added, messages, membership] = await this.redis.imAddMember(
      6,
      `${p}members:${groupId}`,
      `${p}groups:${userId}`,
      `${p}groupset`,
      `${p}seq:${groupLog(groupId)}`,
      `${p}mfloors:${userId}`,
      `${p}seq:${membershipLog(groupId)}`,
      userId,
      groupId,
    );
    return { added: added === 1, floor: { messages, membership } };
  }

  async removeMember(groupId: string, userId: string): Promise<boolean> {
    const p = this.keyPrefix;
    const removed = await this.redis.imRemoveMember(4, `${p}members:${groupId}`, `${p}groups:${userId}`, `${p}groupset`, `${p}mfloors:${userId}`, userId, groupId);
    return removed === 1;
  }

  async groupMembers(groupId: string): Promise<string[]> {
    return this.redis.hkeys(`${this.keyPrefix}members:${groupId}`);
  }

  async isMember(groupId: string, userId: string): Promise<boolean> {
    return (await this.redis.hexists(`${this.keyPrefix}members:${groupId}`, userId)) === 1;
  }

  async userGroups(userId: string): Promise<Map<string, GroupFloors>> {
    const p = this.keyPrefix;
    // One transaction: a join between two plain reads would lack its m: floor.
    const replies = await this.redis.multi().hgetall(`${p}groups:${userId}`).hgetall(`${p}mfloors:${userId}`).exec();
    const [floors, mfloors] = (replies ?? []).map(([err, hash]) => {
      if (err) throw err;
      return hash as Record<string, string>;
    });
    const groups = new Map<string, GroupFloors>();
    for (const [groupId, floor] of Object.entries(floors ?? {})) {
      // No m: floor: joined through a version without m: logs, so every m: entry came after the join.
      groups.set(groupId, { messages: Number(floor), membership: Number(mfloors?.[groupId] ?? 0) });
    }
    return groups;
  }

  async groupCount(): Promise<number> {
    return this.redis.scard(`${this.keyPrefix}groupset`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.redis.status === 'ready') {
      // QUIT lets the replies of commands in flight arrive first.
      await this.redis.quit().catch(() => this.redis.disconnect());
    } else {
      this.redis.disconnect();
    }
  }

  /** Resolves once the connection is ready; rejects after connectTimeoutMs. */
  private ready(): Promise<void> {
    if (this.redis.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        const reason = this.lastError === undefined ? '' : `: ${this.lastError.message}`;
        reject(new Error(`Redis not ready after ${this.connectTimeoutMs} ms${reason}`));
      }, this.connectTimeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.redis.once('ready', onReady);
    });
  }
}

/** Parses an item of `log`, `<pos> <storedAt> <senderDevice> <targetDevice> <frame JSON>` (the frame as given to append). */
function parseEntry(item: string, log: LogId): LogEntry {
  const a = item.indexOf(' ');
  const b = item.indexOf(' ', a + 1);
  const c = item.indexOf(' ', b + 1);
  const d = item.indexOf(' ', c + 1);
  const pos = Number(item.slice(0, a));
  const entry: LogEntry = { pos, frame: frameAt(log, pos, JSON.parse(item.slice(d + 1)) as LoggedFrame), storedAt: Number(item.slice(a + 1, b)) };
  if (c > b + 1) entry.senderDevice = item.slice(b + 1, c);
  if (d > c + 1) entry.targetDevice = item.slice(c + 1, d);
  return entry;
}

/** The log ids among stored members (ours, checked all the same: a bad one is skipped, not served). */
function logIds(texts: readonly string[]): LogId[] {
  return texts.flatMap((text) => parseLogId(text) ?? []);
}

function numberMap(hash: Record<string, string>): Map<string, number> {
  const map = new Map<string, number>();
  for (const [key, value] of Object.entries(hash)) map.set(key, Number(value));
  return map;
}

/** The promise's outcome, or a rejection once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
