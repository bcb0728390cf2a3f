-- wrk script for tests/bench/run-bench.sh: POST /introspect with
-- client_secret_basic, cycling through the tokens in $BENCH_TOKENS (one per
-- line) so that the store is read all over, not one cached record.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")

local tokens = {}
local idx = 0

function init(args)
	for line in io.lines(os.getenv("BENCH_TOKENS")) do
		tokens[#tokens + 1] = "token=" .. line
	end
	-- Threads start at different places in the list.
	math.randomseed(os.time() + #tokens * (args[1] and 1 or 0))
	idx = math.random(#tokens)
end

function request()
	idx = idx % #tokens + 1
	return wrk.format(nil, nil, nil, tokens[idx])
end
