-- wrk script for bench/ingest.py: POST one web chat message per request.
-- Usage: wrk -s bench/wrk/post.lua URL -- TOKENS_FILE RUN_ID
--   TOKENS_FILE: one visitor token a line; requests are spread over them round-robin.
--   RUN_ID: a prefix that keeps client ids unique across runs (a repeated client id is a duplicate).
-- Every request carries a unique client_id (RUN_ID-thread-counter) so each one is a new message.
-- done() prints one line `WRKJSON {...}` that bench/ingest.py parses.

local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("tid", next_thread)
end

local tokens = {}
local run_id = "run"
local counter = 0
local path = "/chat/api/messages"

function init(args)
  local f = assert(io.open(args[1], "r"))
  for line in f:lines() do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  f:close()
  run_id = args[2] or run_id
  path = args[3] or path
end

function request()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  local cid = run_id .. "-" .. tid .. "-" .. counter
  local body = '{"text":"bench message ' .. cid .. '","client_id":"' .. cid .. '"}'
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
    '"write_errors":%d,"status_errors":%d,"timeouts":%d,"lat_p50_us":%d,"lat_p99_us":%d,"lat_max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
