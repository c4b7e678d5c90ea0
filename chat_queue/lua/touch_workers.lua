-- Renew the presence of many workers' conversations at once (see QueueStore.touch_worker).
--
-- KEYS    one worker presence key per conversation
-- ARGV[1] TTL in seconds (the place-keeping time)   ARGV[2] value: node ms now ('1': unknown)
--
-- Returns the number of keys set.

for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[2] or '1', 'EX', ARGV[1])
end
return #KEYS
