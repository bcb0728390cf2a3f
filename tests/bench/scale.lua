-- wrk script for tests/bench/scale-bench.sh: POST /introspect with
-- client_secret_basic for a token picked from $BENCH_TOKENS (one a line)
-- at random, each request: $BENCH_DIST "uniform" (every token alike) or
-- "zipf" (the token of rank k with weight 1/k^s, s = $BENCH_ZIPF_S or
-- 1.0; ranks are the lines' order, which bench_populate makes random).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")

local tokens = {}
local cdf = nil
local n = 0

function init(args)
	for line in io.lines(os.getenv("BENCH_TOKENS")) do
		n = n + 1
		tokens[n] = "token=" .. line
	end
	-- Different sequences per thread and per run.
	math.randomseed(os.time() * 1000 + math.floor(os.clock() * 1e6) +
		tostring(tokens):len())
	if os.getenv("BENCH_DIST") == "zipf" then
		local s = tonumber(os.getenv("BENCH_ZIPF_S") or "1.0")
		local sum = 0
		cdf = {}
		for k = 1, n do
			sum = sum + 1 / k ^ s
			cdf[k] = sum
		end
		for k = 1, n do
			cdf[k] = cdf[k] / sum
		end
	end
end

local function pick()
	if cdf == nil then
		return math.random(n)
	end
	local u = math.random()
	local lo, hi = 1, n
	while lo < hi do
		local mid = math.floor((lo + hi) / 2)
		if cdf[mid] < u then lo = mid + 1 else hi = mid end
	end
	return lo
end

function request()
	return wrk.format(nil, nil, nil, tokens[pick()])
end
