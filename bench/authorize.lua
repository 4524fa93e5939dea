-- wrk script for POST /v1/authorize: cycles through "account_id org_slug" pairs written by `roster seed`.
-- Requests are formatted once in init() so the load generator spends its share of the 2 cores on sending.
-- Usage: ROSTER_KEY=rk_… wrk -t2 -c32 -d20s --latency -s bench/authorize.lua http://127.0.0.1:8080 -- seed-pairs.txt
local requests = {}
local counter = 0

function init(args)
  local key = os.getenv("ROSTER_KEY")
  local headers = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }
  for line in io.lines(args[1] or "seed-pairs.txt") do
    local account, org = line:match("(%S+)%s+(%S+)")
    if account then
      local body = '{"account_id":"' .. account .. '","org":"' .. org .. '","permission":"members.read"}'
      requests[#requests + 1] = wrk.format("POST", "/v1/authorize", headers, body)
    end
  end
end

function request()
  counter = counter + 1
  return requests[(counter % #requests) + 1]
end
