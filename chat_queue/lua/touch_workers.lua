-- Renew the presence of many workers' conversations at once (see QueueStore.touch_worker).
--
-- KEYS    one worker presence key per conversation
-- ARGV[1] grace period in seconds
--
-- Returns the number of keys set.

for _, key in ipairs(KEYS) do
  redis.call('SET', key, '1', 'EX', ARGV[1])
end
return #KEYS
