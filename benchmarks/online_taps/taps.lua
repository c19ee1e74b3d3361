-- wrk script: POST /api/v1/taps with pre-generated, signed tap bodies, each sent once.
--
-- Inputs (environment, set by run.py):
--   TAP_BODIES    file with one JSON tap body per line (fresh challenges, never reused)
--   TAP_TOKEN     the reader's access token
--   TAP_DELAY_MS  pause per connection before each request in ms, fractions allowed
--                (0: as fast as possible)
--
-- Output: "BENCH_RESULT {json}" from done(). A body is never sent twice: once they run
-- out, requests go to /api/v1/taps-exhausted (a 404), which run.py reports as an error.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("TAP_TOKEN") or "")

local bodies = {}
for line in io.lines(os.getenv("TAP_BODIES")) do
  bodies[#bodies + 1] = line
end
local next_body = 0
local pause = tonumber(os.getenv("TAP_DELAY_MS") or "0")

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

non2xx = 0
first_bad_status = 0

function request()
  next_body = next_body + 1
  if next_body > #bodies then
    return wrk.format(nil, "/api/v1/taps-exhausted", nil, "{}")
  end
  return wrk.format(nil, "/api/v1/taps", nil, bodies[next_body])
end

delay = dofile(os.getenv("BENCH_PACING"))(pause)

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    if first_bad_status == 0 then
      first_bad_status = status
    end
  end
end

function done(summary, latency, requests)
  local bad, first_bad = 0, 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    local status = thread:get("first_bad_status")
    if first_bad == 0 and status ~= 0 then
      first_bad = status
    end
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "non2xx": %d, "first_bad_status": %d, '
      .. '"socket_errors": %d, "latency_us": {"mean": %.1f, "max": %d, '
      .. '"p50": %d, "p90": %d, "p99": %d, "p999": %d}}\n',
    summary.requests, summary.duration, bad, first_bad,
    e.connect + e.read + e.write + e.timeout,
    latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
