-- wrk script for POST /v1/verdict: the same bodies go to tollgate and to
-- bench/raw_verdict.
--
--   wrk ... -s bench/verdict.lua URL -- KEY TEAMS RESERVE
--
-- KEY      the verdict key sent as "Authorization: Bearer KEY"
-- TEAMS    how many teams to rotate over: vb-00000 .. vb-(TEAMS-1)
-- RESERVE  1: every body reserves ("reserve": true) under a request_id unique
--          to the run (a per-run prefix, the thread's number and a counter);
--          0: no reservations
--
-- Each thread walks the teams from its own offset, and the models in a fixed
-- cycle, with input and output token counts that vary from call to call. No
-- response() hook, so wrk parses no replies in Lua: what was decided is read
-- from tollgate's verdict counts (verdict_hourly) after the run.

local key, teams, reserve, thread_no
local counter = 0
local models = {
	{ "openai", "gpt-4o" },
	{ "openai", "gpt-4o-mini" },
	{ "anthropic", "claude-sonnet-4-5" },
	{ "openai", "gpt-4.1" },
	{ "anthropic", "claude-haiku-4-5" },
}
local headers = {}
local run = tostring(os.time())

local threads = 0
function setup(thread)
	thread:set("thread_no", threads)
	threads = threads + 1
end

function init(args)
	key = args[1] or ""
	teams = tonumber(args[2] or "1000")
	reserve = args[3] == "1"
	thread_no = tonumber(wrk.thread:get("thread_no")) or 0
	counter = thread_no * 7919
	headers["Content-Type"] = "application/json"
	headers["Authorization"] = "Bearer " .. key
end

function request()
	counter = counter + 1
	local m = models[counter % #models + 1]
	local team = string.format("vb-%05d", counter % teams)
	local input = 200 + (counter * 37) % 4000
	local output = 100 + (counter * 13) % 1000
	local body
	if reserve then
		body = string.format(
			'{"team":"%s","provider":"%s","model":"%s","input_tokens":%d,"max_output_tokens":%d,'
				.. '"reserve":true,"request_id":"vb-%s-%d-%d"}',
			team, m[1], m[2], input, output, run, thread_no, counter)
	else
		body = string.format(
			'{"team":"%s","provider":"%s","model":"%s","input_tokens":%d,"max_output_tokens":%d}',
			team, m[1], m[2], input, output)
	end
	return wrk.format("POST", "/v1/verdict", headers, body)
end
