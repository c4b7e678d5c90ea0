-- Match the head of the waiting queue with the best available counselor, atomically.
--
-- KEYS[1] queue (zset)      KEYS[2] available (zset)   KEYS[3] capacity (hash)
-- KEYS[4] load (hash)       KEYS[5] idle_since (hash)  KEYS[6] draining (set)
-- KEYS[7] seat changes (hash)
-- ARGV[1] now_ms
-- ARGV[2] worker presence prefix     ARGV[3] counselor presence prefix
-- ARGV[4] claim prefix               ARGV[5] claims-of prefix
-- ARGV[6] claim_ttl_s                ARGV[7] load weight (matching.LOAD_WEIGHT)
-- ARGV[8] most abandoned (or skipped) entries to pass in one call (bounds the run time)
-- ARGV[9] grace_ms: a worker last seen longer ago than this is skipped, not matched
--         (0: no check)            ARGV[10] keep_ms: last seen longer ago is abandoned
--
-- Returns {conversation_id, staff_id, abandoned...}; the first two are '' when there is
-- no match. Abandoned = queue entries whose worker presence expired (or was last seen
-- more than keep_ms ago), removed here. Skipped = entries whose worker was last seen
-- between grace_ms and keep_ms ago: their place is kept, the next worker is served.
-- A presence value is the node ms of the worker's last sign of life ('1': unknown, fresh).
-- Presence keys are built from prefixes (not passed in KEYS): one Redis primary only.

local load_weight = tonumber(ARGV[7])
local max_abandoned = tonumber(ARGV[8])
local now_ms = tonumber(ARGV[1])
local grace_ms = tonumber(ARGV[9] or '0')
local keep_ms = tonumber(ARGV[10] or '0')
local abandoned = {}

-- The first entry whose worker is still there; dead entries are dropped on the way and
-- entries of workers away (but within the place-keeping time) are stepped over.
local conv, score
local offset, skipped = 0, 0
while true do
  local head = redis.call('ZRANGE', KEYS[1], offset, offset, 'WITHSCORES')
  if #head == 0 then break end
  local seen = redis.call('GET', ARGV[2] .. head[1])
  local at = seen and tonumber(seen)
  local stamped = at and at > 1 and grace_ms > 0
  if not seen or (stamped and keep_ms > 0 and now_ms - at > keep_ms) then
    redis.call('ZREM', KEYS[1], head[1])
    abandoned[#abandoned + 1] = head[1]
    if #abandoned >= max_abandoned then break end
  elseif stamped and now_ms - at > grace_ms then
    offset = offset + 1
    skipped = skipped + 1
    if skipped >= max_abandoned then break end
  else
    conv, score = head[1], head[2]
    break
  end
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
