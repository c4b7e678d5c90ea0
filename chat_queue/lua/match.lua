-- Match the head of the waiting queue with the best available counselor, atomically.
--
-- KEYS[1] queue (zset)      KEYS[2] available (zset)   KEYS[3] capacity (hash)
-- KEYS[4] load (hash)       KEYS[5] idle_since (hash)  KEYS[6] draining (set)
-- KEYS[7] seat changes (hash)
-- ARGV[1] now_ms
-- ARGV[2] worker presence prefix     ARGV[3] counselor presence prefix
-- ARGV[4] claim prefix               ARGV[5] claims-of prefix
-- ARGV[6] claim_ttl_s                ARGV[7] load weight (matching.LOAD_WEIGHT)
-- ARGV[8] most abandoned entries to drop in one call (bounds the script's run time)
--
-- Returns {conversation_id, staff_id, abandoned...}; the first two are '' when there is
-- no match. Abandoned = queue heads whose worker presence expired, removed here.
-- Presence keys are built from prefixes (not passed in KEYS): one Redis primary only.

local load_weight = tonumber(ARGV[7])
local max_abandoned = tonumber(ARGV[8])
local abandoned = {}

-- The head whose worker is still there; dead heads are dropped on the way.
local conv, score
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #head == 0 then break end
  if redis.call('EXISTS', ARGV[2] .. head[1]) == 1 then
    conv, score = head[1], head[2]
    break
  end
  redis.call('ZREM', KEYS[1], head[1])
  abandoned[#abandoned + 1] = head[1]
  if #abandoned >= max_abandoned then break end
end
if not conv then
  return {'', '', unpack(abandoned)}
end

-- The best counselor who can really take it; stale members are dropped on the way.
local staff
while true do
  local best = redis.call('ZRANGE', KEYS[2], 0, 0)
  if #best == 0 then break end
  local s = best[1]
  local cap = tonumber(redis.call('HGET', KEYS[3], s))
  local load = tonumber(redis.call('HGET', KEYS[4], s) or '0')
  if cap and load < cap
      and redis.call('SISMEMBER', KEYS[6], s) == 0
      and redis.call('EXISTS', ARGV[3] .. s) == 1 then
    staff = s
    break
  end
  redis.call('ZREM', KEYS[2], s)
end
if not staff then
  return {'', '', unpack(abandoned)}
end

redis.call('ZREM', KEYS[1], conv)
redis.call('HINCRBY', KEYS[4], staff, 1)
redis.call('HINCRBY', KEYS[7], staff, 1)
refresh_seat(staff, KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], ARGV[3] .. staff, load_weight)

local claim = ARGV[4] .. conv
redis.call('HSET', claim, 'staff', staff, 'score', score, 'at', ARGV[1])
redis.call('EXPIRE', claim, ARGV[6])
local claims_of = ARGV[5] .. staff
redis.call('SADD', claims_of, conv)
redis.call('EXPIRE', claims_of, ARGV[6])
return {conv, staff, unpack(abandoned)}
