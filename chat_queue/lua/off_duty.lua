-- A counselor goes off duty: no new match; conversations in progress keep their load.
--
-- KEYS[1] available (zset)  KEYS[2] capacity (hash)  KEYS[3] load (hash)
-- KEYS[4] idle_since (hash) KEYS[5] draining (set)   KEYS[6] counselor presence
-- ARGV[1] staff_id
--
-- Returns the load left (release() brings it down and then deletes the fields).

local staff = ARGV[1]
redis.call('ZREM', KEYS[1], staff)
redis.call('HDEL', KEYS[2], staff)
redis.call('SREM', KEYS[5], staff)
redis.call('DEL', KEYS[6])
local load = tonumber(redis.call('HGET', KEYS[3], staff) or '0')
if load == 0 then
  redis.call('HDEL', KEYS[3], staff)
  redis.call('HDEL', KEYS[4], staff)
end
return load
