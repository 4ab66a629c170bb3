-- The online feature store of fraudstream: every feature of the declaration, per event, atomically.
--
-- Python (fraudstream.feature_store.online.script) fills the four __NAMES__ below when it loads
-- the script: the declaration compiled to one row per feature, and the per-entity horizons.
--
-- Modes (ARGV[1]):
--   "r"  enrich transactions in order, recording each   KEYS: none
--   "p"  enrich without recording (each a peek)         ARGV: mode, then per entity the start of
--                                                       its keys, then per event
--                                                       "id,time_us,amount,entity id,..."
--   "l"  record labels (a label again: replaced) KEYS: none; ARGV: mode, the entities' key
--                                                starts, then per label "id,entity id,...,entry"
--   "x"  prune one entity                        KEYS: its tx hash, label hash, pruning point
--                                                ARGV: mode, entity index (1-based)
--   "w"  advance the labels watermark            KEYS: the watermark key; ARGV: mode, time_us
-- Replies: per event "status," then the N features as little-endian doubles ("conflict" alone)
-- (r, p), labels new to the first
-- entity (l), entries removed (x), the watermark (w).
-- r and p take several events per call (one argument each: a call's cost is mostly per
-- argument and per call, not per event) and derive each event's keys from the entity ids: the
-- store needs one Redis (or a cluster whose hash tags keep an entity's keys together, which this
-- layout does not do yet). The caller keeps calls short (tens of events) so that other clients
-- are not held up by one long script.
--
-- State per entity. tx hash: TRANSACTION_ID -> "time_us,amount". Label hash: TRANSACTION_ID ->
-- "tx_time_us,fraud,label_time_us". Pruning point: entries older than it may have been deleted
-- (it is just after the newest deleted one).
-- Times are integer epoch microseconds (exact in doubles). The point-in-time rule is the one of
-- fraudstream.feature_store.vocabulary: only transactions ordered before the event by (time, id),
-- only labels known at its time, never its own label.

-- One row per feature, in declaration order: aggregation, entity index (0: none), window and
-- delay in microseconds, and win, the index of its (entity, window, delay) for the caches.
local FEATURES = __FEATURES__
-- Per entity index: how far back the declaration reads, and how far back the state is kept.
local LOOKBACK_US = __LOOKBACK_US__
local KEEP_US = __KEEP_US__
-- Wall-clock expiry of an idle entity's keys.
local TTL_MS = __TTL_MS__

-- A feature vector travels as little-endian doubles: exact, and far cheaper than formatting
-- each number as text (measured: '%.17g' was a third of the script's time).
local VECTOR_FORMAT = '<' .. string.rep('d', #FEATURES)

local DAY_US = 86400000000
local HOUR_US = 3600000000
local EPOCH_WEEKDAY = 3 -- 1970-01-01 was a Thursday (Monday = 0)
local LAST_NIGHT_HOUR = 6
-- Prune once the oldest entry is a day past the horizon: one pruning per day of an entity's
-- events rather than one per event.
local PRUNE_SLACK_US = DAY_US

local find, sub, format, concat = string.find, string.sub, string.format, table.concat
-- The current event's keys (per entity: tx hash, label hash, pruning point), set per event.
local K = KEYS
local floor, huge = math.floor, math.huge

-- Transaction ids are decimal integers without leading zeros: ordered exactly at any length.
local function id_before(a, b)
  if #a ~= #b then return #a < #b end
  return a < b
end

-- Every number of comma-separated values (or of a HGETALL reply), parsed at once in C.
local function numbers(values)
  if #values == 0 then return {} end
  return cjson.decode('[' .. concat(values, ',') .. ']')
end

-- Whole cents (half to even, like numpy.rint) and the float remainder, as the offline PrefixSums.
local function cents_of(amount)
  local x = amount * 100
  local cents = floor(x + 0.5)
  if cents - x == 0.5 and cents % 2 == 1 then cents = cents - 1 end
  return cents, amount - cents / 100
end

-- The entries at the event's own time that are ordered before it (a smaller id): rare, so they
-- are read apart, by id. `width` numbers per entry, the time first.
local function tied_entries(key, ev, width)
  local flat = redis.call('HGETALL', key)
  local d = numbers(flat) -- the id, then the entry's numbers
  local tied = {}
  for j = 1, #d, width + 1 do
    if d[j + 1] == ev.t and id_before(flat[2 * (j - 1) / (width + 1) + 1], ev.id) then
      for k = 1, width do tied[#tied + 1] = d[j + k] end
    end
  end
  return tied
end

-- All of an entity's entries (`width` numbers each, the time first), decoded at once; the newest
-- and oldest times; and the tied entries ordered before the event (none when there is no tie).
-- Windows scan `d` with a bound below the event's time, then `tied`: together exactly the
-- entries ordered before the event.
local function read_entries(key, ev, width)
  local d = numbers(redis.call('HVALS', key))
  local t, newest, oldest, tie = ev.t, -huge, huge, false
  for j = 1, #d, width do
    local tj = d[j]
    if tj > newest then newest = tj end
    if tj < oldest then oldest = tj end
    if tj == t then tie = true end
  end
  local tied = {}
  if tie then tied = tied_entries(key, ev, width) end
  return {d = d, tied = tied, newest = newest, oldest = oldest}
end

-- The feature's window (t - delay - window, t - delay] as bounds on `d` (below the event's time:
-- ties are apart), and whether the tied entries are in it (delay 0).
local function bounds(ev, f)
  local hi = ev.t - f.d
  if f.d == 0 then return hi - f.w, hi - 1, true end
  return hi - f.w, hi, false
end

-- Earlier transactions of the feature's window: how many. Cached per window.
local function tx_count(ev, f)
  local n = ev.count_cache[f.win]
  if n then return n end
  local h = ev.history[f.e]
  local lo, hi, with_tied = bounds(ev, f)
  local d = h.d
  n = 0
  for j = 1, #d, 2 do
    local tj = d[j]
    if tj > lo and tj <= hi then n = n + 1 end
  end
  if with_tied then n = n + #h.tied / 2 end
  ev.count_cache[f.win] = n
  return n
end

-- Whole cents and remainders of an entity's amounts (entry k at k), computed once.
local function amounts_in_cents(h)
  if not h.cents then
    local d, tied, cents, rest = h.d, h.tied, {}, {}
    for j = 2, #d, 2 do cents[j / 2], rest[j / 2] = cents_of(d[j]) end
    h.tied_cents, h.tied_rest = 0, 0
    for j = 2, #tied, 2 do
      local c, r = cents_of(tied[j])
      h.tied_cents, h.tied_rest = h.tied_cents + c, h.tied_rest + r
    end
    h.cents, h.rest = cents, rest
  end
  return h
end

-- The same transactions' count and amounts (whole cents and remainder). Cached per window.
local function tx_sums(ev, f)
  local s = ev.sum_cache[f.win]
  if s then return s end
  local h = amounts_in_cents(ev.history[f.e])
  local lo, hi, with_tied = bounds(ev, f)
  local d, cents, rest = h.d, h.cents, h.rest
  local n, c, r = 0, 0, 0
  for j = 1, #d, 2 do
    local tj = d[j]
    if tj > lo and tj <= hi then
      local k = (j + 1) / 2
      n, c, r = n + 1, c + cents[k], r + rest[k]
    end
  end
  if with_tied then n, c, r = n + #h.tied / 2, c + h.tied_cents, r + h.tied_rest end
  s = {n = n, cents = c, rest = r}
  ev.sum_cache[f.win] = s
  return s
end

local function add_label(s, tj, fraud)
  s.known = s.known + 1
  if fraud == 1 then
    s.frauds = s.frauds + 1
    if s.first_fraud == nil or tj < s.first_fraud then s.first_fraud = tj end
  elseif s.last_genuine == nil or tj > s.last_genuine then
    s.last_genuine = tj
  end
end

-- Labels known at the event's time of the window's earlier transactions: frauds, all, the first
-- fraud's time and the last genuine one's (nil when none). Cached per window.
local function label_window(ev, f)
  local s = ev.label_cache[f.win]
  if s then return s end
  local l = ev.labels[f.e]
  local lo, hi, with_tied = bounds(ev, f)
  local d, t = l.d, ev.t
  s = {frauds = 0, known = 0}
  for j = 1, #d, 3 do
    local tj = d[j]
    if tj > lo and tj <= hi and d[j + 2] <= t then add_label(s, tj, d[j + 1]) end
  end
  if with_tied then
    local tied = l.tied
    for j = 1, #tied, 3 do
      if tied[j + 2] <= t then add_label(s, tied[j], tied[j + 1]) end
    end
  end
  ev.label_cache[f.win] = s
  return s
end

local function mean(n, cents, rest)
  if n > 0 then return (cents / 100 + rest) / n end
  return 0
end

local function ratio(numerator, denominator, empty)
  if denominator > 0 then return numerator / denominator end
  return empty
end

-- One implementation per Aggregation of fraudstream.feature_store.vocabulary (same names).
local AGGREGATIONS = {}

AGGREGATIONS.amount = function(ev)
  return ev.amount
end

AGGREGATIONS.weekend = function(ev)
  if (floor(ev.t / DAY_US) + EPOCH_WEEKDAY) % 7 >= 5 then return 1 end
  return 0
end

AGGREGATIONS.night = function(ev)
  if floor(ev.t / HOUR_US) % 24 <= LAST_NIGHT_HOUR then return 1 end
  return 0
end

AGGREGATIONS.count = function(ev, f)
  if f.d == 0 then return tx_count(ev, f) + 1 end
  return tx_count(ev, f)
end

AGGREGATIONS.mean_amount = function(ev, f)
  local s = tx_sums(ev, f)
  if f.d == 0 then return mean(s.n + 1, s.cents + ev.cents, s.rest + ev.rest) end
  return mean(s.n, s.cents, s.rest)
end

AGGREGATIONS.amount_ratio = function(ev, f)
  local s = tx_sums(ev, f)
  return ratio(ev.amount, mean(s.n, s.cents, s.rest), 1)
end

AGGREGATIONS.recent_max_amount_ratio = function(ev, f)
  local h = ev.history[f.e]
  local d, tied, lo, t, top = h.d, h.tied, ev.t - f.d, ev.t, nil
  for j = 1, #d, 2 do
    local tj = d[j]
    if tj > lo and tj < t and (top == nil or d[j + 1] > top) then top = d[j + 1] end
  end
  for j = 2, #tied, 2 do
    if top == nil or tied[j] > top then top = tied[j] end
  end
  if top == nil then return 1 end
  local s = tx_sums(ev, f)
  return ratio(math.max(top, 0), mean(s.n, s.cents, s.rest), 1)
end

AGGREGATIONS.seconds_since_previous = function(ev, f)
  local h = ev.history[f.e]
  if #h.tied > 0 then return 0 end
  local d, t, latest = h.d, ev.t, nil
  for j = 1, #d, 2 do
    local tj = d[j]
    if tj < t and (latest == nil or tj > latest) then latest = tj end
  end
  if latest == nil then return f.w / 1e6 end
  return math.min(t - latest, f.w) / 1e6
end

AGGREGATIONS.fraud_count = function(ev, f)
  return label_window(ev, f).frauds
end

AGGREGATIONS.fraud_risk = function(ev, f)
  return ratio(label_window(ev, f).frauds, tx_count(ev, f), 0)
end

AGGREGATIONS.known_fraud_share = function(ev, f)
  local s = label_window(ev, f)
  return ratio(s.frauds, s.known, 0)
end

AGGREGATIONS.seconds_since_first_known_fraud = function(ev, f)
  local first = label_window(ev, f).first_fraud
  if first == nil then return f.w / 1e6 end
  return (ev.t - first) / 1e6
end

AGGREGATIONS.seconds_since_last_known_genuine = function(ev, f)
  local last = label_window(ev, f).last_genuine
  if last == nil then return f.w / 1e6 end
  return (ev.t - last) / 1e6
end

-- Delete the entity's entries older than `cutoff`. The pruning point rises to just after the
-- newest entry deleted: a window starting later lost nothing (no deletion, no change).
local function prune(tx_key, label_key, point_key, cutoff)
  local removed, newest_removed = 0, -huge
  -- Per entry: id, time, then the amount (tx) or the fraud and label time (labels).
  for key, width in pairs({[tx_key] = 3, [label_key] = 4}) do
    local flat = redis.call('HGETALL', key)
    local d = numbers(flat)
    local stale = {}
    for j = 1, #d, width do
      if d[j + 1] < cutoff then
        stale[#stale + 1] = flat[2 * ((j - 1) / width) + 1]
        if d[j + 1] > newest_removed then newest_removed = d[j + 1] end
      end
    end
    for i = 1, #stale, 1000 do
      redis.call('HDEL', key, unpack(stale, i, math.min(i + 999, #stale)))
    end
    removed = removed + #stale
  end
  if removed > 0 then
    local point = tonumber(redis.call('GET', point_key))
    if point == nil or newest_removed + 1 > point then
      redis.call('SET', point_key, format('%.0f', newest_removed + 1), 'PX', TTL_MS)
    end
  end
  return removed
end

local function record(ev, entry)
  for e = 1, #KEEP_US do
    local tx_key, label_key, point_key = K[3 * e - 2], K[3 * e - 1], K[3 * e]
    local h, l = ev.history[e], ev.labels[e]
    redis.call('HSET', tx_key, ev.id, entry)
    local cutoff = math.max(h.newest, ev.t) - KEEP_US[e]
    if math.min(h.oldest, l.oldest) < cutoff - PRUNE_SLACK_US then
      prune(tx_key, label_key, point_key, cutoff)
    end
    redis.call('PEXPIRE', tx_key, TTL_MS)
    redis.call('PEXPIRE', label_key, TTL_MS)
    redis.call('PEXPIRE', point_key, TTL_MS)
  end
end

-- Read the state the event needs; nil when its id is recorded with other content (a conflict).
local function read_state(ev, entry)
  for e = 1, #LOOKBACK_US do
    local own = redis.call('HGET', K[3 * e - 2], ev.id)
    if own then
      if own ~= entry then return nil end
      ev.replayed = true
    end
  end
  for e = 1, #LOOKBACK_US do
    local h = read_entries(K[3 * e - 2], ev, 2)
    -- The pruning point is at most the newest time - KEEP_US: read it only when that is late
    -- enough to matter, then mark a window reaching before it incomplete.
    local since = ev.t - LOOKBACK_US[e]
    if h.newest - KEEP_US[e] > since + 1 then
      local point = tonumber(redis.call('GET', K[3 * e]))
      if point and point > since + 1 then ev.incomplete = true end
    end
    ev.history[e] = h
    ev.labels[e] = read_entries(K[3 * e - 1], ev, 3)
  end
  return ev
end

local function enrich(save, id, time_us, amount)
  local ev = {id = id, t = tonumber(time_us), amount = tonumber(amount),
              history = {}, labels = {}, count_cache = {}, sum_cache = {}, label_cache = {}}
  local entry = time_us .. ',' .. amount
  ev.cents, ev.rest = cents_of(ev.amount)
  if read_state(ev, entry) == nil then return 'conflict' end
  local out = {}
  for i = 1, #FEATURES do
    local f = FEATURES[i]
    out[i] = AGGREGATIONS[f.agg](ev, f)
  end
  local status = 'new'
  if ev.incomplete then status = 'incomplete' elseif ev.replayed then status = 'replayed' end
  if save and not ev.replayed then record(ev, entry) end
  return status .. ',' .. struct.pack(VECTOR_FORMAT, unpack(out))
end

-- Every event of the call, in order (each sees the ones recorded before it).
local function enrich_all(save)
  local entities = #LOOKBACK_US
  local bases = {}
  for e = 1, entities do bases[e] = ARGV[1 + e] end
  local replies = {}
  for i = 2 + entities, #ARGV do
    local f = {}
    for part in string.gmatch(ARGV[i], '[^,]+') do f[#f + 1] = part end
    if #f ~= 3 + entities then
      return redis.error_reply('fraudstream store script: bad event argument ' .. ARGV[i])
    end
    local keys = {}
    for e = 1, entities do
      local base = bases[e] .. f[3 + e]
      keys[3 * e - 2], keys[3 * e - 1], keys[3 * e] = base .. ':tx', base .. ':lb', base .. ':pp'
    end
    K = keys
    replies[#replies + 1] = enrich(save, f[1], f[2], f[3])
  end
  return replies
end

-- Record labels for every entity of each (its label hash, kept alive like the rest).
local function record_labels()
  local entities = #LOOKBACK_US
  local new = 0
  for i = 2 + entities, #ARGV do
    local arg = ARGV[i]
    local fields, from = {}, 1
    for _ = 1, 1 + entities do
      local comma = find(arg, ',', from, true)
      if not comma then
        return redis.error_reply('fraudstream store script: bad label argument ' .. arg)
      end
      fields[#fields + 1] = sub(arg, from, comma - 1)
      from = comma + 1
    end
    local id, entry = fields[1], sub(arg, from)
    for e = 1, entities do
      local key = ARGV[1 + e] .. fields[1 + e] .. ':lb'
      local added = redis.call('HSET', key, id, entry)
      if e == 1 then new = new + added end
      redis.call('PEXPIRE', key, TTL_MS)
    end
  end
  return new
end

local function prune_entity()
  local e = tonumber(ARGV[2])
  local newest = read_entries(KEYS[1], {t = -huge}, 2).newest
  if newest == -huge then return 0 end
  return prune(KEYS[1], KEYS[2], KEYS[3], newest - KEEP_US[e])
end

local function advance_watermark()
  local current = redis.call('GET', KEYS[1])
  if current and tonumber(current) >= tonumber(ARGV[2]) then return current end
  redis.call('SET', KEYS[1], ARGV[2])
  return ARGV[2]
end

local mode = ARGV[1]
if mode == 'r' then return enrich_all(true) end
if mode == 'p' then return enrich_all(false) end
if mode == 'l' then return record_labels() end
if mode == 'x' then return prune_entity() end
if mode == 'w' then return advance_watermark() end
return redis.error_reply('fraudstream store script: unknown mode ' .. tostring(mode))
