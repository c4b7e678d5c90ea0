-- A counselor's heartbeat: renew presence while they are on duty.
--
-- KEYS[1] available (zset)  KEYS[2] capacity (hash)  KEYS[3] load (hash)
-- KEYS[4] idle_since (hash) KEYS[5] draining (set)   KEYS[6] counselor presence
-- ARGV[1] staff_id  ARGV[2] ttl_s  ARGV[3] load weight
--
-- Returns 1, or 0 if the counselor is not on duty (went off duty, or Redis lost its
-- data): the caller must then call counselor_on_duty with the load from PostgreSQL.
-- A heartbeat that comes after the presence expired (a stalled node) revives the seat
-- without touching the load, so matches in flight stay counted.

local staff = ARGV[1]
if redis.call('HEXISTS', KEYS[2], staff) == 0 then
  return 0
end
redis.call('SET', KEYS[6], '1', 'EX', ARGV[2])
refresh_seat(staff, KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], tonumber(ARGV[3]))
return 1
