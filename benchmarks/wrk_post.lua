-- wrk script of benchmarks/serving.py: POST JSON bodies read from a file, one body per line.
--
--   wrk -t2 -c8 -d15s --latency -s benchmarks/wrk_post.lua http://127.0.0.1:8000 -- /predict bodies.jsonl
--
-- Each thread cycles through the bodies from its own offset, so consecutive requests carry
-- different customers. At the end one line "WRK_JSON {...}" gives the exact figures (latency
-- in microseconds) for the caller to parse.

local threads = {}
local path, bodies_file = "/", nil

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

function init(args)
  path = args[1] or "/"
  bodies_file = args[2]
  bodies = {}
  local file = assert(io.open(bodies_file, "r"), "cannot open " .. tostring(bodies_file))
  for line in file:lines() do
    if #line > 0 then
      table.insert(bodies, line)
    end
  end
  file:close()
  assert(#bodies > 0, "no bodies in " .. bodies_file)
  headers = { ["Content-Type"] = "application/json" }
  position = (thread_id * 7919) % #bodies
  wrk.method = "POST"
end

function request()
  position = position % #bodies + 1
  return wrk.format("POST", path, headers, bodies[position])
end

function done(summary, latency, requests)
  local errors = summary.errors
  local parts = {
    string.format('"requests": %d', summary.requests),
    string.format('"duration_us": %d', summary.duration),
    string.format('"bytes": %d', summary.bytes),
    string.format('"errors_connect": %d', errors.connect),
    string.format('"errors_read": %d', errors.read),
    string.format('"errors_write": %d', errors.write),
    string.format('"errors_status": %d', errors.status),
    string.format('"errors_timeout": %d', errors.timeout),
    string.format('"latency_mean_us": %.1f', latency.mean),
    string.format('"latency_max_us": %d', latency.max),
  }
  for _, p in ipairs({ { "50", 50 }, { "75", 75 }, { "90", 90 }, { "99", 99 }, { "999", 99.9 } }) do
    table.insert(parts, string.format('"latency_p%s_us": %d', p[1], latency:percentile(p[2])))
  end
  io.write("WRK_JSON {" .. table.concat(parts, ", ") .. "}\n")
end
