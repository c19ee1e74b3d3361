-- wrk script: partner entitlement checks, POST /api/v1/checks/<service>/by-card-number
-- or /by-subject, from a file of pre-made checks for random residents.
--
-- Inputs (environment, set by run.py):
--   CHECK_REQUESTS  file with one check per line: "<path>\t<JSON body>"
--   CHECK_TOKEN     the partner's access token
--   CHECK_OFFSET    where in the file to start (run.py moves on by what earlier loads sent,
--                   so a run asks about new residents until the file wraps round)
--   CHECK_DELAY_MS  pause per connection before each request in ms, fractions allowed
--                (0: as fast as possible)
--
-- Output: "BENCH_RESULT {json}" from done(), with the answers that were not 2xx, those
-- without an "entitled" field, and those that said entitled true.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("CHECK_TOKEN") or "")

local paths, bodies = {}, {}
for line in io.lines(os.getenv("CHECK_REQUESTS")) do
  local path, body = line:match("^([^\t]+)\t(.*)$")
  if path then
    paths[#paths + 1] = path
    bodies[#bodies + 1] = body
  end
end
local count = #paths
local next_check = tonumber(os.getenv("CHECK_OFFSET") or "0") % count
local pause = tonumber(os.getenv("CHECK_DELAY_MS") or "0")

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

non2xx = 0
first_bad_status = 0
bad_body = 0
entitled = 0

function request()
  next_check = next_check % count + 1
  return wrk.format(nil, paths[next_check], nil, bodies[next_check])
end

delay = dofile(os.getenv("BENCH_PACING"))(pause)

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad_status == 0 then
      first_bad_status = status
    end
  elseif string.find(body, '"entitled":%s*true') then
    entitled = entitled + 1
  elseif not string.find(body, '"entitled":%s*false') then
    bad_body = bad_body + 1
  end
end

function done(summary, latency, requests)
  local bad, first_bad, wrong, yes = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    wrong = wrong + thread:get("bad_body")
    yes = yes + thread:get("entitled")
    local status = thread:get("first_bad_status")
    if first_bad == 0 and status ~= 0 then
      first_bad = status
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "non2xx": %d, "first_bad_status": %d, '
      .. '"bad_body": %d, "entitled": %d, '
      .. '"socket_errors": %d, "latency_us": {"mean": %.1f, "max": %d, '
      .. '"p50": %d, "p90": %d, "p99": %d, "p999": %d}}\n',
    summary.requests, summary.duration, bad, first_bad, wrong, yes,
    e.connect + e.read + e.write + e.timeout,
    latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
