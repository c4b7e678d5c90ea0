-- Change a seat on duty: draining on/off, or capacity.
--
-- KEYS[1] available (zset)  KEYS[2] capacity (hash)  KEYS[3] load (hash)
-- KEYS[4] idle_since (hash) KEYS[5] draining (set)   KEYS[6] counselor presence
-- ARGV[1] staff_id  ARGV[2] load weight  ARGV[3] 'drain' | 'undrain' | 'capacity'
-- ARGV[4] the new capacity (for 'capacity')
--
-- Returns 1, or 0 if the counselor is not on duty (nothing changed).

local staff = ARGV[1]
if redis.call('HEXISTS', KEYS[2], staff) == 0 then
  return 0
end
if ARGV[3] == 'drain' then
  redis.call('SADD', KEYS[5], staff)
elseif ARGV[3] == 'undrain' then
  redis.call('SREM', KEYS[5], staff)
else
  redis.call('HSET', KEYS[2], staff, ARGV[4])
end
refresh_seat(staff, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[2]))
return 1
