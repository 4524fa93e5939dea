-- wrk: POST /Users, each request a new user (userName userT-N@DOMAIN, externalId EXT-T-N-DOMAIN for thread T),
-- with far less client CPU than bench/scim-create.py. Set ORG, KEY and DOMAIN (a different one each run).
-- ORG=… KEY=… DOMAIN=run1.test wrk -t 2 -c 8 -d 10s --latency -s bench/scim-create.lua BASE_URL
local org, key, domain = os.getenv("ORG"), os.getenv("KEY"), os.getenv("DOMAIN") or "bench.test"
local threads, counter = 0, 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init()
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. key
  wrk.headers["Content-Type"] = "application/scim+json"
end
request = function()
  counter = counter + 1
  local name = "user" .. id .. "-" .. counter
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name .. '@' .. domain ..
    '","externalId":"EXT-' .. id .. '-' .. counter .. '-' .. domain .. '","name":{"givenName":"User","familyName":"' .. counter .. '"}}'
  return wrk.format(nil, "/scim/v2/orgs/" .. org .. "/Users", nil, body)
end
local failures = 0
response = function(status)
  if status ~= 201 then failures = failures + 1 end
end
