-- Places in the queue of many conversations at once: one command instead of one per
-- conversation (a node asks for all its waiting workers every second).
--
-- KEYS[1] queue (zset)
-- ARGV    conversation ids
--
-- Returns one 0-based rank per id, -1 where the id is not queued.

local out = {}
for i, id in ipairs(ARGV) do
  out[i] = redis.call('ZRANK', KEYS[1], id) or -1
end
return out
