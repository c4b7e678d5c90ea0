-- Set a counselor's load from PostgreSQL plus the matches still in flight.
--
-- KEYS[1] available (zset)  KEYS[2] capacity (hash)  KEYS[3] load (hash)
-- KEYS[4] idle_since (hash) KEYS[5] draining (set)   KEYS[6] counselor presence
-- KEYS[7] claims-of set of the counselor   KEYS[8] seat changes (hash)
-- ARGV[1] staff_id  ARGV[2] load weight  ARGV[3] claim prefix
-- ARGV[4] the seat-change count read before the caller read PostgreSQL
-- ARGV[5..] ids of the counselor's conversations recorded as active in PostgreSQL
--
-- load = recorded + live claims of this counselor not among the recorded. A match
-- recorded after the caller's read still holds its claim, so it is counted once.
-- But a match made and confirmed (claim dropped) between that read and now is in
-- neither, and a conversation ended meanwhile is still in the read: if anything changed
-- the seat since the count was read, nothing is set (-1); the next round will do it.
-- Returns the new load, or -1.

local staff = ARGV[1]
if tonumber(redis.call('HGET', KEYS[8], staff) or '0') ~= tonumber(ARGV[4]) then
  return -1
end
local recorded = {}
for i = 5, #ARGV do recorded[ARGV[i]] = true end
local load = #ARGV - 4
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
