-- wrk script for the /v1/home benchmark (bench/run_home.py).
-- Rotates the caller over users 1..N so no target is flattered by a hot cache, sending
-- both identities: "Authorization: Bearer <token>" (bff_mobile verifies it) and
-- "X-User-Id" (the aggregator reads it). Tokens come one per line from the file named
-- after "--" (line N is user N). Ends with one machine-readable line, "BENCH_JSON {...}",
-- that run_home.py parses.

local prepared = {}
local next_user = 0

function init(args)
  -- Requests are formatted once; the hot loop only picks the next one.
  local uid = 0
  for token in io.lines(args[1]) do
    uid = uid + 1
    prepared[uid] = wrk.format("GET", nil, {
      ["X-User-Id"] = tostring(uid),
      ["Authorization"] = "Bearer " .. token,
    })
  end
end

function request()
  next_user = next_user % #prepared + 1
  return prepared[next_user]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"timeouts":%d,'
      .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
