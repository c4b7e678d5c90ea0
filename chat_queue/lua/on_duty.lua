-- A counselor comes on duty (or is restored by rebuild).
--
-- KEYS[1] available (zset)  KEYS[2] capacity (hash)  KEYS[3] load (hash)
-- KEYS[4] idle_since (hash) KEYS[5] draining (set)   KEYS[6] counselor presence
-- KEYS[7] seat changes (hash)
-- ARGV[1] staff_id  ARGV[2] capacity  ARGV[3] load  ARGV[4] idle_since_ms  ARGV[5] ttl_s
-- ARGV[6] load weight   ARGV[7] '1' = keep values already there (rebuild), '0' = overwrite
--
-- Overwriting clears draining: coming on duty means taking conversations.

local staff = ARGV[1]
redis.call('HINCRBY', KEYS[7], staff, 1)
if ARGV[7] == '1' then
  redis.call('HSETNX', KEYS[2], staff, ARGV[2])
  redis.call('HSETNX', KEYS[3], staff, ARGV[3])
  redis.call('HSETNX', KEYS[4], staff, ARGV[4])
  redis.call('SET', KEYS[6], '1', 'EX', ARGV[5], 'NX')
else
  redis.call('HSET', KEYS[2], staff, ARGV[2])
  redis.call('HSET', KEYS[3], staff, ARGV[3])
  redis.call('HSET', KEYS[4], staff, ARGV[4])
  redis.call('SREM', KEYS[5], staff)
  redis.call('SET', KEYS[6], '1', 'EX', ARGV[5])
end
refresh_seat(staff, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[6]))
return 1
