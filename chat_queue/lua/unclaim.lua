-- Undo a match the server could not record: the counselor's load - 1, and the worker
-- back at the original place if still there. Idempotent: only a live claim is undone.
--
-- KEYS[1] queue (zset)      KEYS[2] available (zset)   KEYS[3] capacity (hash)
-- KEYS[4] load (hash)       KEYS[5] idle_since (hash)  KEYS[6] draining (set)
-- KEYS[7] claim of the conversation    KEYS[8] claims-of set of the counselor
-- KEYS[9] counselor presence           KEYS[10] worker presence
-- KEYS[11] seat changes (hash)
-- ARGV[1] conversation_id   ARGV[2] staff_id   ARGV[3] load weight
--
-- Returns 0 nothing to undo (no live claim by this counselor), 1 undone and the worker
-- re-queued, 2 undone but the worker's presence had expired (not re-queued).
-- idle_since is left alone: a match that never happened costs the counselor no place.

local conv, staff = ARGV[1], ARGV[2]
if redis.call('HGET', KEYS[7], 'staff') ~= staff then
  return 0
end
local score = redis.call('HGET', KEYS[7], 'score')
redis.call('DEL', KEYS[7])
redis.call('SREM', KEYS[8], conv)
redis.call('HINCRBY', KEYS[11], staff, 1)
local load = tonumber(redis.call('HGET', KEYS[4], staff) or '0')
if load > 0 then
  redis.call('HSET', KEYS[4], staff, load - 1)
end
refresh_seat(staff, KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[9], tonumber(ARGV[3]))
if redis.call('EXISTS', KEYS[10]) == 1 then
  redis.call('ZADD', KEYS[1], 'NX', score, conv)
  return 1
end
return 2
