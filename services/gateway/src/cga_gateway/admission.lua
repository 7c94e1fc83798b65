-- Admission of one Actions request, in one round trip and atomically: is the token's grant
-- revoked, and do the app's and the user's moving windows both have room? A slot is taken in
-- both windows only when both admit, so a request one window refuses uses up nothing.
--
-- KEYS[1] the grant's denylist key, KEYS[2] the app's window, KEYS[3] the user's window.
-- ARGV[1] the app's limit, ARGV[2] the user's limit, ARGV[3] the window's length in ms.
-- Returns {verdict, milliseconds until a slot frees}: verdict 0 admitted, 1 grant revoked,
-- 2 app window full, 3 user window full.
--
-- A window is a list of the times (ms, Redis's clock: one clock for every gateway) of its
-- latest admissions, newest first and at most `limit` long. It is full while the limit-th
-- newest of them is younger than the window: an exact moving window, no burst at its edges.

if redis.call('EXISTS', KEYS[1]) == 1 then
  return {1, 0}
end

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local window = tonumber(ARGV[3])

local function wait_for_slot(key, limit)
  local oldest = redis.call('LINDEX', key, limit - 1)
  if oldest then
    local frees_at = tonumber(oldest) + window
    if frees_at > now then
      return frees_at - now
    end
  end
  return 0
end

for scope = 1, 2 do
  local wait = wait_for_slot(KEYS[scope + 1], tonumber(ARGV[scope]))
  if wait > 0 then
    return {scope + 1, wait}
  end
end

for scope = 1, 2 do
  local key = KEYS[scope + 1]
  redis.call('LPUSH', key, now)
  redis.call('LTRIM', key, 0, tonumber(ARGV[scope]) - 1)
  redis.call('PEXPIRE', key, window)
end
return {0, 0}
