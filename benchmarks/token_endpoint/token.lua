-- wrk script: POST a client_credentials token request, count non-2xx answers
-- and print exact latency percentiles as one machine-readable line.
--
-- Inputs (environment, set by run.py):
--   BENCH_AUTH   value of the Authorization header ("Basic ...")
--   BENCH_BODY   form body, e.g. "grant_type=client_credentials&scope=x"
--   BENCH_PATH   request path (default /oauth/token)
--
-- Output: a line "BENCH_RESULT {json}" from done(); wrk's own text output is
-- left as is above it for a human reading the log.

wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH") or "/oauth/token"
wrk.body = os.getenv("BENCH_BODY") or "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH") or ""

-- Each wrk thread has its own Lua state; keep them to read counters in done().
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- Thread-local counters, read back through thread:get() in done().
non2xx = 0
first_bad_status = 0

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
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, '
      .. '"non2xx": %d, "first_bad_status": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, '
      .. '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, '
      .. '"p50": %d, "p90": %d, "p99": %d, "p999": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    bad, first_bad,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
