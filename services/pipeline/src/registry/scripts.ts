/*
 * The registry's atomic steps, as Lua scripts run with EVALSHA (ioredis
 * defineCommand). Each states its keys, arguments and return values; callers are in
 * registry.ts. Every key a script touches is passed in KEYS.
 */

/**
 * Registers a component and its instances from the config without overwriting live
 * state: the epoch, the active and each instance's role and epoch are set only when
 * missing, so a restart with the config's initial roles never undoes an activation.
 * An instance added to the config of a component that already has an active starts
 * as a fallback, whatever the config says. The epoch is never left below ARGV[6],
 * the highest epoch recorded outside Redis (a registry restored after Redis lost
 * it must not hand out an epoch that was already used).
 *
 * ARGV[7] names the instance the instances' own records make active at that epoch
 * (their agents' epoch.json), or is ''. When the component is new (registered again
 * after Redis lost it) or its epoch was below ARGV[6] (behind what the instances
 * recorded: Redis lost its newest writes), that instance is the active and every
 * other one a fallback, all at the epoch, instead of the config's initial roles: an
 * activation since the config was written is not undone.
 *
 * KEYS[1] components SET    KEYS[2] component HASH    KEYS[3] instances SET
 * KEYS[4..] one instance HASH per instance, in the order of ARGV[8..]
 * ARGV[1] component name    ARGV[2] recipe    ARGV[3] schedule    ARGV[4] outbox
 * ARGV[5] now (ISO 8601)    ARGV[6] the lowest epoch allowed (1 when nothing is recorded)
 * ARGV[7] the recorded active ('' when none)
 * ARGV[8..] per instance: JSON {name, role, host, port, dataDir, priority}
 * Returns {epoch, active ('' when none), 1 if the component was new else 0}.
 */
export const REGISTER_COMPONENT = `
local componentKey = KEYS[2]
local lowest = math.max(1, tonumber(ARGV[6]))
local isNew = redis.call('HSETNX', componentKey, 'epoch', lowest)
local raised = false
if isNew == 1 then
  redis.call('HSET', componentKey, 'createdAt', ARGV[5], 'active', '')
elseif tonumber(redis.call('HGET', componentKey, 'epoch')) < lowest then
  redis.call('HSET', componentKey, 'epoch', lowest)
  raised = true
end
redis.call('HSET', componentKey, 'recipe', ARGV[2], 'schedule', ARGV[3], 'outbox', ARGV[4])
redis.call('SADD', KEYS[1], ARGV[1])
local epoch = redis.call('HGET', componentKey, 'epoch')
local recordedActive = ''
if ARGV[7] ~= '' and (isNew == 1 or raised) then
  for i = 8, #ARGV do
    if cjson.decode(ARGV[i]).name == ARGV[7] then recordedActive = ARGV[7] end
  end
end
if recordedActive ~= '' then redis.call('HSET', componentKey, 'active', recordedActive) end
for i = 8, #ARGV do
  local instance = cjson.decode(ARGV[i])
  local key = KEYS[i - 4]
  redis.call('SADD', KEYS[3], instance.name)
  if recordedActive ~= '' then
    local role = 'fallback'
    if instance.name == recordedActive then role = 'active' end
    redis.call('HSET', key, 'role', role, 'epoch', epoch)
  else
    local role = 'fallback'
    if isNew == 1 then role = instance.role end
    if redis.call('HSETNX', key, 'role', role) == 1 then
      redis.call('HSET', key, 'epoch', epoch)
      if role == 'active' then redis.call('HSET', componentKey, 'active', instance.name) end
    end
  end
  redis.call('HSET', key, 'component', ARGV[1], 'host', instance.host, 'port', instance.port,
    'dataDir', instance.dataDir, 'priority', instance.priority)
end
return {tonumber(epoch), redis.call('HGET', componentKey, 'active'), isNew}
`;

/**
 * Compares a job's epoch with the component's.
 *
 * KEYS[1] component HASH
 * ARGV[1] the job's epoch
 * Returns {1, epoch} when they are equal, {0, current} when the job's is another
 * (stale, or from a registry that was reset), {-1, 0} when the component is unknown.
 */
export const CHECK_EPOCH = `
local current = redis.call('HGET', KEYS[1], 'epoch')
if not current then return {-1, 0} end
if current == ARGV[1] then return {1, tonumber(current)} end
return {0, tonumber(current)}
`;

/**
 * Writes fields only while the epoch is still the one the writer worked under, so
 * that a worker of a stale epoch cannot report over the current one.
 *
 * KEYS[1] component HASH (holds the epoch)    KEYS[2] the HASH to write
 * ARGV[1] the writer's epoch    ARGV[2..] field, value, field, value ...
 * Returns 1 when written, 0 when the epoch differs (nothing written).
 */
export const WRITE_IF_EPOCH = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], unpack(ARGV, 2))
return 1
`;

/**
 * Records the component's newest snapshot of a kind, unless a newer one of that kind is
 * recorded (pulls of one component may finish out of order) or the epoch moved on.
 * The snapshot's time is kept beside the record, as a number Lua can compare.
 *
 * KEYS[1] component HASH
 * ARGV[1] the writer's epoch    ARGV[2] snapshot time (ms since 1970)
 * ARGV[3] the record (JSON, `SnapshotRecord`)
 * ARGV[4] the field: `lastSnapshot` (physical) or `lastLogicalSnapshot`
 * Returns 1 when written, 0 when the epoch differs or a newer snapshot is recorded
 * (nothing written).
 */
export const RECORD_SNAPSHOT = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local field = ARGV[4]
local recorded = tonumber(redis.call('HGET', KEYS[1], field .. 'Time') or '-1')
if recorded > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], field, ARGV[3], field .. 'Time', ARGV[2])
return 1
`;

/**
 * Replaces a fallback's reported state only while it is the state the writer built
 * its update on (same snapshot, same update time) and the epoch is the writer's: a
 * position report, which asks the server for a while, never rolls back what a
 * restore reported meanwhile.
 *
 * KEYS[1] component HASH (holds the epoch)    KEYS[2] instance HASH
 * ARGV[1] the writer's epoch    ARGV[2] the snapshot id it read ('' for none)
 * ARGV[3] the update time it read    ARGV[4] the new state (JSON, `FallbackState`)
 * Returns 1 when written, 0 when the epoch or the state changed (nothing written).
 */
export const REPLACE_FALLBACK_STATE = `
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local current = redis.call('HGET', KEYS[2], 'state')
if not current then return 0 end
local state = cjson.decode(current)
if (state.snapshotId or '') ~= ARGV[2] or state.updatedAt ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], 'state', ARGV[4])
return 1
`;

/**
 * Records whether a snapshot restored and started on a fallback (good) or not (bad).
 * A good one stays good: a snapshot that started on one fallback is sound, and a
 * later failure elsewhere is that fallback's.
 *
 * KEYS[1] the component's snapshot health HASH
 * ARGV[1] snapshot id    ARGV[2] 'good' or 'bad'    ARGV[3] the health (JSON, `SnapshotHealth`)
 * Returns 1 when recorded, 0 for a bad one not recorded (the snapshot is good).
 */
export const MARK_SNAPSHOT = `
if ARGV[2] ~= 'good' then
  local known = redis.call('HGET', KEYS[1], ARGV[1])
  if known and cjson.decode(known).state == 'good' then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
`;

/**
 * Records that snapshot ARGV[1] was queued for a fallback, unless a newer one
 * already was: an import worker skips every snapshot older than the one recorded.
 *
 * KEYS[1] instance HASH
 * ARGV[1] snapshot id    ARGV[2] snapshot time (ms since 1970)
 * Returns 1 when recorded (or it is the one recorded: a retried pull queues it again),
 * 0 when a newer snapshot was queued before.
 */
export const QUEUE_SNAPSHOT = `
if redis.call('HGET', KEYS[1], 'queuedSnapshotId') == ARGV[1] then return 1 end
local queued = tonumber(redis.call('HGET', KEYS[1], 'queuedSnapshotTime') or '-1')
if queued >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'queuedSnapshotId', ARGV[1], 'queuedSnapshotTime', ARGV[2])
return 1
`;

/**
 * Extends the export lock if the caller still holds it.
 *
 * KEYS[1] lock STRING    ARGV[1] the holder's token    ARGV[2] new TTL in ms
 * Returns 1 when extended, 0 when the lock is gone or held by another.
 */
export const RENEW_LOCK = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

/**
 * Releases the export lock if the caller still holds it (never another's).
 *
 * KEYS[1] lock STRING    ARGV[1] the holder's token
 * Returns 1 when released, 0 otherwise.
 */
export const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('DEL', KEYS[1])
`;

/**
 * Replaces a component's WAL gaps only while they are what the caller read: the
 * receiver records its gaps meanwhile, and a check of the archive must never erase one.
 *
 * KEYS[1] component HASH    ARGV[1] walGaps as read ('' when absent)    ARGV[2] the new walGaps (JSON)
 * Returns 1 when written, 0 when walGaps changed since they were read, -1 for an unknown component.
 */
export const REPLACE_WAL_GAPS = `
if redis.call('HEXISTS', KEYS[1], 'epoch') == 0 then return -1 end
if (redis.call('HGET', KEYS[1], 'walGaps') or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'walGaps', ARGV[2])
return 1
`;
