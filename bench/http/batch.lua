-- wrk script: BATCH events per POST /events/batch (ids generated).
local n = tonumber(os.getenv("BATCH") or "100")
local items = {}
for i = 1, n do
  items[i] = '{"type":"bench.created","payload":{"order":' .. i .. ',"note":"http ingest"}}'
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.path = "/events/batch"
wrk.body = '{"events":[' .. table.concat(items, ",") .. ']}'
