-- A conversation of this counselor ended: load - 1 (never below 0), idle since now.
--
-- KEYS[1] available (zset)  KEYS[2] capacity (hash)  KEYS[3] load (hash)
-- KEYS[4] idle_since (hash) KEYS[5] draining (set)   KEYS[6] counselor presence
-- KEYS[7] seat changes (hash)
-- ARGV[1] staff_id   ARGV[2] now_ms   ARGV[3] load weight
--
-- Returns the new load. Off duty with nothing left: the hash fields are deleted.

local staff = ARGV[1]
redis.call('HINCRBY', KEYS[7], staff, 1)
local load = tonumber(redis.call('HGET', KEYS[3], staff) or '0')
if load > 0 then load = load - 1 end
if load == 0 and redis.call('HEXISTS', KEYS[2], staff) == 0 then
  redis.call('HDEL', KEYS[3], staff)
  redis.call('HDEL', KEYS[4], staff)
  redis.call('ZREM', KEYS[1], staff)
  return 0
end
redis.call('HSET', KEYS[3], staff, load)
redis.call('HSET', KEYS[4], staff, ARGV[2])
refresh_seat(staff, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[3]))
return load
