/*
 * The election's atomic steps (docs/election.md), as Lua scripts run with EVALSHA
 * (ioredis defineCommand); callers are in leases.ts. Each states what it reads,
 * writes and returns, and why it must be one step. Every key a script touches is
 * passed in KEYS. Redis runs a script alone, so a check and the write it guards can
 * never be split by another client: that is the whole point of each.
 */

/**
 * Takes the leader lease, or keeps it when the caller already holds it.
 *
 * KEYS[1] leader STRING    ARGV[1] holder    ARGV[2] TTL in ms
 * Returns 1 when the caller holds it now (TTL set afresh), 0 when another holds it.
 * Atomic: read-then-set would let two workers that both saw it free both take it.
 */
export const ACQUIRE_LEADER = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * Extends a lease (leader) only while the caller holds it.
 *
 * KEYS[1] lease STRING    ARGV[1] holder    ARGV[2] TTL in ms
 * Returns 1 when extended, 0 when it lapsed or another holds it (nothing written).
 * Atomic: a check then PEXPIRE could extend a lease another took in between.
 */
export const RENEW_IF_HELD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * Deletes a lease only while the caller holds it (never another's).
 *
 * KEYS[1] lease STRING    ARGV[1] holder
 * Returns 1 when deleted, 0 otherwise.
 */
export const RELEASE_IF_HELD = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`;

/**
 * Takes the component's next epoch: max(current, floor) + 1. `floor` is the highest
 * epoch the caller read outside Redis (the instances' records, the archive's tags),
 * so a Redis that lost its data never hands out an epoch already used.
 *
 * KEYS[1] component HASH    KEYS[2] leader STRING
 * ARGV[1] floor    ARGV[2] the election leader taking it, or '' (an operator's activation)
 * Returns the new epoch, or -1 when the component is not registered (nothing written:
 * a lost registry is registered again first, by `pullback up`), or -2 when ARGV[2] is
 * given and no longer holds the leader lease (nothing written).
 * Atomic: two activations that read the same epoch must not both take the next one,
 * and a leader paused past its lease (SIGSTOP, a long GC) must not take one on its
 * stale view after another leader has acted: that demotes the newer active again.
 */
export const TAKE_EPOCH = `
if ARGV[2] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[2] then return -2 end
local current = redis.call('HGET', KEYS[1], 'epoch')
if not current then return -1 end
local epoch = math.max(tonumber(current), tonumber(ARGV[1])) + 1
redis.call('HSET', KEYS[1], 'epoch', epoch)
return epoch
`;

/**
 * Takes the component's active lease, `<instance>@<epoch>`, for an instance being
 * promoted at `epoch` (SET NX: never over a lease someone holds, lapsed leases only).
 *
 * KEYS[1] component HASH    KEYS[2] active lease STRING
 * ARGV[1] the lease value `<instance>@<epoch>`    ARGV[2] epoch    ARGV[3] TTL in ms
 * Returns {1, ''} when taken, {0, current epoch} when the registry epoch is not
 * `epoch` (an activation took a newer one, or the component is unknown: ''),
 * {-1, holder} when the lease is held.
 * Atomic: the epoch check and the SET must see the same state, or a newer
 * activation could slip in between and both would hold permission.
 */
export const ACQUIRE_ACTIVE = `
local current = redis.call('HGET', KEYS[1], 'epoch')
if current ~= ARGV[2] then return {0, current or ''} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[3]) then return {1, ''} end
return {-1, redis.call('GET', KEYS[2]) or ''}
`;

/**
 * Renews the active lease: only while it still reads `<instance>@<epoch>` and the
 * registry epoch is still `epoch`, so that an activation that took a newer epoch stops
 * the old active's renewals at once (docs/election.md "The safety rule").
 *
 * KEYS[1] component HASH    KEYS[2] active lease STRING
 * ARGV[1] the lease value `<instance>@<epoch>`    ARGV[2] epoch    ARGV[3] TTL in ms
 * Returns {1, ''} when renewed, {0, current epoch} when the epoch moved on (or the
 * component is unknown: ''), {-1, holder} when the lease lapsed ('') or names another.
 * Atomic: for the same reason as ACQUIRE_ACTIVE.
 */
export const RENEW_ACTIVE = `
local current = redis.call('HGET', KEYS[1], 'epoch')
if current ~= ARGV[2] then return {0, current or ''} end
local holder = redis.call('GET', KEYS[2])
if holder ~= ARGV[1] then return {-1, holder or ''} end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {1, ''}
`;

/**
 * Reads a lease and its remaining time together.
 *
 * KEYS[1] lease STRING
 * Returns {value, remaining ms}, or {'', -2} when absent.
 * Atomic: a GET then PTTL could pair one holder's name with the next holder's TTL.
 */
export const READ_LEASE = `
local value = redis.call('GET', KEYS[1])
if not value then return {'', -2} end
return {value, redis.call('PTTL', KEYS[1])}
`;

/**
 * Makes `instance` the component's active at `epoch`: the component's `active` and
 * `epoch`, and every instance's `role` and `epoch`. Refused when the registry epoch
 * moved past `epoch` (a newer activation won); an epoch below it (a registry
 * registered again after Redis lost it) is raised to it.
 *
 * KEYS[1] component HASH    KEYS[2] instances SET    KEYS[3..] instance HASHes
 * ARGV[1] the new active    ARGV[2] epoch    ARGV[3..] instance names, as KEYS[3..]
 * Returns {1, epoch} when written, {0, current} when the epoch moved past (nothing
 * written), {-1, 0} for an unknown component or an instance not in it.
 * Atomic: roles written under a check another activation could invalidate midway
 * would leave two instances `active`.
 */
export const SET_ACTIVE = `
local current = redis.call('HGET', KEYS[1], 'epoch')
if not current then return {-1, 0} end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 0 then return {-1, 0} end
local epoch = tonumber(ARGV[2])
if tonumber(current) > epoch then return {0, tonumber(current)} end
redis.call('HSET', KEYS[1], 'epoch', epoch, 'active', ARGV[1])
for i = 3, #ARGV do
  local role = 'fallback'
  if ARGV[i] == ARGV[1] then role = 'active' end
  redis.call('HSET', KEYS[i], 'role', role, 'epoch', epoch)
end
return {1, epoch}
`;

/**
 * Stores an agent's heartbeat with the time Redis received it, so that its age is
 * measured on one clock (Redis's) whatever the agents' and the leader's clocks say.
 *
 * KEYS[1] agent HASH    ARGV[1] the report (JSON, `AgentReport`)
 * Returns 1.
 */
export const REPORT_AGENT = `
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('HSET', KEYS[1], 'report', ARGV[1], 'receivedAt', ms)
return 1
`;

/**
 * Reads an agent's heartbeat and how long ago Redis received it.
 *
 * KEYS[1] agent HASH
 * Returns {report (JSON), age in ms}, or {'', -1} when the agent never reported.
 * Atomic only in that the age is Redis's now less Redis's receipt time.
 */
export const READ_AGENT = `
local report = redis.call('HGET', KEYS[1], 'report')
if not report then return {'', -1} end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
return {report, ms - tonumber(redis.call('HGET', KEYS[1], 'receivedAt'))}
`;
