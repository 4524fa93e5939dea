-- wrk: GET /Users?filter=userName eq "studentN@example.edu" for random N below 100,000 (bench/scim.sh).
-- Set ORG and KEY in the environment.
local org = os.getenv("ORG")
local key = os.getenv("KEY")
wrk.headers["Authorization"] = "Bearer " .. key
math.randomseed(os.time())
request = function()
  local n = math.random(0, 99999)
  return wrk.format("GET", "/scim/v2/orgs/" .. org .. "/Users?filter=userName%20eq%20%22student" .. n .. "%40example.edu%22")
end
