/**
 * The Lua that keeps a message with a ttl in its users' inboxes, run by the log's append script right
 * after its `XADD` (so a message is in the stream and every addressed inbox, or in neither). Keys, under
 * the inbox prefix `ip` (`<--redis-prefix>inbox:`):
 *
 * - `m:<stream id>`: the message, once (JSON: epoch, publisher id, topics, event, data, json, expiry);
 * - `id:<publisher id>`: its stream id, for acknowledgements by id;
 * - `u:<user>`: the user's personal entries; `t:<topic>`: a shared topic's entries (`all`, groups,
 *   prefixes) — sorted sets scored by the stream id's milliseconds, members `<ms>-<seq, 10 digits>-<expiry>`,
 *   so equal scores sort by sequence and the member carries the expiry;
 * - `topics`: the prefix topics that have entries.
 *
 * Every key expires a minute after its last entry would (Redis's own clock), so nothing outlives its ttl
 * for long; reads compare expiries with the node's clock.
 */
export const INBOX_KEEP = `
local function keep_inbox(ip, epoch, id, pid, topics, event, data, json, ttl)
  local dash = string.find(id, '-', 1, true)
  local msText = string.sub(id, 1, dash - 1)
  local ms = tonumber(msText)
  local seq = string.sub(id, dash + 1)
  local expires = ms + ttl
  local member = msText .. '-' .. string.rep('0', 10 - #seq) .. seq .. '-' .. string.format('%d', expires)
  local px = ttl + 60000
  redis.call('SET', ip .. 'm:' .. id, cjson.encode({e = epoch, i = pid, t = topics, v = event, d = data, j = json, x = expires}), 'PX', px)
  if pid ~= '' then redis.call('SET', ip .. 'id:' .. pid, id, 'PX', px) end
  for _, topic in ipairs(cjson.decode(topics)) do
    local key
    if string.sub(topic, 1, 5) == 'user:' then
      key = ip .. 'u:' .. string.sub(topic, 6)
    else
      key = ip .. 't:' .. topic
      if string.sub(topic, 1, 7) == 'prefix:' then redis.call('SADD', ip .. 'topics', topic) end
    end
    redis.call('ZADD', key, ms, member)
    if redis.call('PTTL', key) < px then redis.call('PEXPIRE', key, px) end
  end
end
`;
