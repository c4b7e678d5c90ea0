-- A batch of publishes as one command, in order (chat_server/chat/hub.py).
--
-- KEYS: none (channels are not keys)
-- ARGV: channel, payload, channel, payload, ...
--
-- Returns the number of publishes. Pipelined PUBLISHes cost redis-py a command object
-- and a reply parse each (a tenth of a busy node's CPU); Redis runs a script whole, so
-- the order of the batch is kept.

for i = 1, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
return #ARGV / 2
