-- wrk script for POST /v1/authorize: cycles through "account_id org_slug" pairs written by `roster seed`.
-- Usage: ROSTER_KEY=rk_… wrk -t2 -c32 -d20s --latency -s bench/authorize.lua http://127.0.0.1:8080 -- seed-pairs.txt
local pairs = {}
local key = os.getenv("ROSTER_KEY")
local counter = 0

function init(args)
  for line in io.lines(args[1] or "seed-pairs.txt") do
    local account, org = line:match("(%S+)%s+(%S+)")
    if account then pairs[#pairs + 1] = { account, org } end
  end
end

function request()
  counter = counter + 1
  local p = pairs[(counter % #pairs) + 1]
  local body = '{"account_id":"' .. p[1] .. '","org":"' .. p[2] .. '","permission":"members.read"}'
  return wrk.format("POST", "/v1/authorize", { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }, body)
end
