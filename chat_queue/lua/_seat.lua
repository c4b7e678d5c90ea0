-- Shared prelude, prepended by scripts.py to every script in this directory.
--
-- refresh_seat puts a counselor into the available set (scored by load, then idle
-- since) when they can take a conversation now, and takes them out otherwise. Every
-- script that changes a seat ends with it, so the set never disagrees with the hashes.
-- Scores are written with %.0f: Lua's default number format keeps only 14 digits.

local function counselor_score(load, idle, load_weight)
  return string.format('%.0f', load * load_weight + idle)
end

local function refresh_seat(staff, k_avail, k_cap, k_load, k_idle, k_draining, k_presence,
                            load_weight)
  local cap = tonumber(redis.call('HGET', k_cap, staff))
  local load = tonumber(redis.call('HGET', k_load, staff) or '0')
  if cap and load < cap
      and redis.call('SISMEMBER', k_draining, staff) == 0
      and redis.call('EXISTS', k_presence) == 1 then
    local idle = tonumber(redis.call('HGET', k_idle, staff) or '0')
    redis.call('ZADD', k_avail, counselor_score(load, idle, load_weight), staff)
  else
    redis.call('ZREM', k_avail, staff)
  end
end
