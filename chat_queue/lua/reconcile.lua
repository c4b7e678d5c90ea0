-- Set a counselor's load from PostgreSQL plus the matches still in flight.
--
-- KEYS[1] available (zset)  KEYS[2] capacity (hash)  KEYS[3] load (hash)
-- KEYS[4] idle_since (hash) KEYS[5] draining (set)   KEYS[6] counselor presence
-- KEYS[7] claims-of set of the counselor
-- ARGV[1] staff_id  ARGV[2] load weight  ARGV[3] claim prefix
-- ARGV[4..] ids of the counselor's conversations recorded as active in PostgreSQL
--
-- load = recorded + live claims of this counselor not among the recorded. A match
-- recorded after the caller's read still holds its claim, so it is counted once.
-- Returns the new load.

local staff = ARGV[1]
local recorded = {}
for i = 4, #ARGV do recorded[ARGV[i]] = true end
local load = #ARGV - 3
for _, conv in ipairs(redis.call('SMEMBERS', KEYS[7])) do
  if redis.call('HGET', ARGV[3] .. conv, 'staff') == staff then
    if not recorded[conv] then load = load + 1 end
  else
    redis.call('SREM', KEYS[7], conv)
  end
end
if load == 0 and redis.call('HEXISTS', KEYS[2], staff) == 0 then
  redis.call('HDEL', KEYS[3], staff)
  redis.call('HDEL', KEYS[4], staff)
else
  redis.call('HSET', KEYS[3], staff, load)
end
refresh_seat(staff, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[2]))
return load
