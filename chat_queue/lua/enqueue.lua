-- Put a conversation in the waiting queue, keeping its place if it is already there.
--
-- KEYS[1] queue (zset)            KEYS[2] worker presence of this conversation
-- KEYS[3] claim of this conversation
-- ARGV[1] conversation_id   ARGV[2] queue score   ARGV[3] TTL of the presence (keep time)
-- ARGV[4] presence value: node ms of this sign of life ('1': unknown)
--
-- Returns 1 if queued (now or already), 0 if refused because a match of this
-- conversation is in flight (a second entry could hand the worker to a second counselor).

if redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
redis.call('SET', KEYS[2], ARGV[4] or '1', 'EX', ARGV[3])
return 1
