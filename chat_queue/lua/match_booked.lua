-- Match one queued conversation with one named counselor (a booked online session),
-- atomically, ahead of everyone else in the queue.
--
-- KEYS[1] queue (zset)      KEYS[2] available (zset)   KEYS[3] capacity (hash)
-- KEYS[4] load (hash)       KEYS[5] idle_since (hash)  KEYS[6] draining (set)
-- KEYS[7] seat changes (hash)
-- KEYS[8] claim of the conversation    KEYS[9] claims-of set of the counselor
-- KEYS[10] counselor presence          KEYS[11] worker presence
-- ARGV[1] conversation_id   ARGV[2] staff_id   ARGV[3] now_ms
-- ARGV[4] claim_ttl_s       ARGV[5] load weight
--
-- Returns 1 matched; 0 the conversation is not queued (or its worker is gone, or a match
-- is in flight); -1 the counselor cannot take it now (off duty, away, draining or full).
-- Draining is honoured: a counselor whose shift ended is not handed a booked worker.

local conv, staff = ARGV[1], ARGV[2]
local score = redis.call('ZSCORE', KEYS[1], conv)
if not score or redis.call('EXISTS', KEYS[8]) == 1
    or redis.call('EXISTS', KEYS[11]) == 0 then
  return 0
end
local cap = tonumber(redis.call('HGET', KEYS[3], staff))
local load = tonumber(redis.call('HGET', KEYS[4], staff) or '0')
if not cap or load >= cap
    or redis.call('SISMEMBER', KEYS[6], staff) == 1
    or redis.call('EXISTS', KEYS[10]) == 0 then
  return -1
end

redis.call('ZREM', KEYS[1], conv)
redis.call('HINCRBY', KEYS[4], staff, 1)
redis.call('HINCRBY', KEYS[7], staff, 1)
refresh_seat(staff, KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[10], tonumber(ARGV[5]))

redis.call('HSET', KEYS[8], 'staff', staff, 'score', score, 'at', ARGV[3])
redis.call('EXPIRE', KEYS[8], ARGV[4])
redis.call('SADD', KEYS[9], conv)
redis.call('EXPIRE', KEYS[9], ARGV[4])
return 1
