-- wrk script for the memory bound (bench/memory.py): every product page and every user's
-- home, over and over. Arguments after "--": the tokens file (line N is user N) and the
-- number of products. One cycle is products 1..P, each asked by a rotating user, with
-- user k's /v1/home after every P/U-th product, so it covers all P pages and all U homes.
-- home.lua's done() prints the BENCH_JSON line harness.run_wrk parses.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "home.lua")

local prepared = {}
local next_request = 0

function init(args)
  local tokens = {}
  for token in io.lines(args[1]) do
    tokens[#tokens + 1] = token
  end
  local products = tonumber(args[2])
  local every = math.max(1, math.floor(products / #tokens))
  local function get(path, uid)
    return wrk.format("GET", path, {
      ["X-User-Id"] = tostring(uid),
      ["Authorization"] = "Bearer " .. tokens[uid],
    })
  end
  local home_user = 0
  for pid = 1, products do
    prepared[#prepared + 1] = get("/v1/products/" .. pid, (pid - 1) % #tokens + 1)
    if pid % every == 0 and home_user < #tokens then
      home_user = home_user + 1
      prepared[#prepared + 1] = get("/v1/home", home_user)
    end
  end
  while home_user < #tokens do
    home_user = home_user + 1
    prepared[#prepared + 1] = get("/v1/home", home_user)
  end
end

function request()
  next_request = next_request % #prepared + 1
  return prepared[next_request]
end
