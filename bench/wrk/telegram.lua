-- wrk script for bench/telegram_webhook.py: POST one realistic Telegram `message` update per request.
-- Usage: wrk -s bench/wrk/telegram.lua URL -- SECRET BASE [CHATS]
--   SECRET: the webhook secret (X-Telegram-Bot-Api-Secret-Token)
--   BASE:   a number that keeps update_id and message_id unique across runs (a repeat is a duplicate)
--   CHATS:  private chats the updates are spread over (1000)
-- Each body is ~1 KB: ~600 characters of mixed English and Chinese text with one `bold` entity, `from` and
-- `chat` with names, username and language_code, a unique update_id and (chat.id, message_id).
-- done() prints one line `WRKJSON {...}` that the benchmark parses.

local next_thread = 0

function setup(thread)
  next_thread = next_thread + 1
  thread:set("tid", next_thread)
end

local secret = "secret"
local base = 0
local chats = 1000
local counter = 0
local path = nil

local sentence = "My withdrawal of 0.35 BTC has been pending for three days, order 8812345. " ..
  "我的提现已经三天了还没有到账，请帮我查一下。 The transaction hash is " ..
  "0x9f2c4b7e1d3a5f60b8e2c1d4a7f9e3b2c5d8a1f4e7b0c3d6a9f2e5b8c1d4a7f0. " ..
  "另外我的账户验证也一直卡在审核中，已经上传了护照照片。 Could you check what is wrong and " ..
  "tell me when the funds will arrive? 谢谢你们的帮助，麻烦尽快处理。 I also tried the app on my " ..
  "phone and the web version, both show pending. 请问是否需要补充什么资料？"

function init(args)
  secret = args[1] or secret
  base = tonumber(args[2] or "0")
  chats = tonumber(args[3] or "1000")
  path = wrk.path
end

local function json_escape(s)
  return (s:gsub('[%c"\\]', function (c) return string.format("\\u%04x", c:byte()) end))
end

function request()
  counter = counter + 1
  local serial = base + tid * 10000000 + counter
  local chat = 700000000 + (serial % chats)
  local first = "Wei " .. (serial % chats)
  local text = "[" .. serial .. "] " .. sentence
  local body = '{"update_id":' .. serial .. ',"message":{"message_id":' .. serial ..
    ',"from":{"id":' .. chat .. ',"is_bot":false,"first_name":"' .. json_escape(first) ..
    '","last_name":"Zhang 张","username":"wei_' .. chat .. '","language_code":"zh-hans"},' ..
    '"chat":{"id":' .. chat .. ',"first_name":"' .. json_escape(first) ..
    '","last_name":"Zhang 张","username":"wei_' .. chat .. '","type":"private"},' ..
    '"date":1764633600,"text":"' .. json_escape(text) .. '",' ..
    '"entities":[{"offset":' .. (#tostring(serial) + 3) .. ',"length":10,"type":"bold"}]}}'
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-Telegram-Bot-Api-Secret-Token"] = secret,
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
