-- wrk script of bench/load.py: send the requests listed in a file in rotation, count every
-- response by status and, asked to, keep the id of each check-in the server acknowledged.
--
--   wrk -t2 -c16 -d10s --latency -s bench/wrk/requests.lua -H 'Cookie: ...' \
--       http://127.0.0.1:PORT -- requests.tsv [ids]
--
-- requests.tsv holds one request per line: METHOD <tab> PATH [<tab> BODY]. The headers
-- (session cookie, CSRF token, content type) come from wrk's -H options. At the end one
-- line goes to stdout, after wrk's own summary:
--
--   lockstep-report {"statuses": {"200": 9000}, "ids": [...], "unparsed": 0}
--
-- wrk's summary lumps 3xx with 2xx and says nothing of which statuses came back; the
-- report lets bench/load.py count errors exactly and compare acknowledged check-ins with
-- the rows in the database afterwards.

local threads = {}
local started = 0

function setup(thread)
  -- Each thread starts at its own place in the list so they do not walk it in step.
  thread:set("offset", started)
  started = started + 1
  table.insert(threads, thread)
end

local requests = {}
local position = 0
local capture = false

-- Globals, because done() reads them from each thread through thread:get.
statuses = {}
ids = {}
unparsed = 0

function init(args)
  local file = args[1]
  for line in io.lines(file) do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    if method then
      if body == "" then
        body = nil
      end
      -- nil headers: wrk.format uses wrk.headers, which holds the -H options.
      requests[#requests + 1] = wrk.format(method, path, nil, body)
    end
  end
  if #requests == 0 then
    error("no requests in " .. tostring(file))
  end
  capture = args[2] == "ids"
  position = (offset * 7919) % #requests
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if capture and status >= 200 and status < 300 then
    local id = body and body:match('^{"checkin":%s*{"id":%s*(%d+)')
    if id then
      ids[#ids + 1] = id
    else
      unparsed = unparsed + 1
    end
  end
end

function done(_summary, _latency, _requests)
  local merged, all_ids, all_unparsed = {}, {}, 0
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + n
    end
    for _, id in ipairs(thread:get("ids")) do
      all_ids[#all_ids + 1] = id
    end
    all_unparsed = all_unparsed + thread:get("unparsed")
  end
  local counts = {}
  for status, n in pairs(merged) do
    counts[#counts + 1] = string.format('"%d": %d', status, n)
  end
  io.write(string.format(
    'lockstep-report {"statuses": {%s}, "ids": [%s], "unparsed": %d}\n',
    table.concat(counts, ", "),
    table.concat(all_ids, ","),
    all_unparsed
  ))
end
