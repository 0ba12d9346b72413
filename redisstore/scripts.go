package redisstore

import "github.com/redis/go-redis/v9"

// addScript adds one day's counts. Redis runs a script atomically, so the
// check of the batch id and every increment are one step: either the id
// is new and all counts are added, or it was seen and nothing changes.
//
// KEYS: 1 batches set, 2 days set, 3 counts hash.
// ARGV: 1 batch id ("" for none), 2 day, 3 max details per policy,
// 4 prefix of the details hashes, 5 number of policies; then per policy:
// JSON, SHA-1 of the JSON (hex), successes, failures, number of details;
// then per detail: JSON, JSON of its folded form ("" when it is folded
// itself), sessions. Returns {1 if added else 0, failed sessions folded}.
var addScript = redis.NewScript(`
if ARGV[1] ~= '' and redis.call('SADD', KEYS[1], ARGV[1]) == 0 then
	return {0, 0}
end
redis.call('SADD', KEYS[2], ARGV[2])
local max = tonumber(ARGV[3])
local dprefix = ARGV[4]
local i = 6
local folded = 0
for _ = 1, tonumber(ARGV[5]) do
	local pj, s, f, n = ARGV[i], tonumber(ARGV[i+2]), tonumber(ARGV[i+3]), tonumber(ARGV[i+4])
	if s > 0 then redis.call('HINCRBY', KEYS[3], 's' .. pj, s) end
	if f > 0 then redis.call('HINCRBY', KEYS[3], 'f' .. pj, f) end
	local dkey = dprefix .. ARGV[i+1]
	i = i + 5
	for _ = 1, n do
		local d, fd, c = ARGV[i], ARGV[i+1], tonumber(ARGV[i+2])
		i = i + 3
		if fd ~= '' and redis.call('HEXISTS', dkey, d) == 0 and redis.call('HLEN', dkey) >= max then
			redis.call('HINCRBY', dkey, fd, c)
			folded = folded + c
		else
			redis.call('HINCRBY', dkey, d, c)
		end
	end
end
return {1, folded}
`)

// deleteScript removes one day's results. The batch ids are kept for
// ARGV[3] milliseconds more, so that a batch of the day retried after the
// deletion is still recognised.
//
// KEYS: 1 batches set, 2 days set, 3 counts hash.
// ARGV: 1 day, 2 prefix of the details hashes, 3 retention of the ids.
var deleteScript = redis.NewScript(`
for _, field in ipairs(redis.call('HKEYS', KEYS[3])) do
	if string.sub(field, 1, 1) == 'f' then
		redis.call('DEL', ARGV[2] .. redis.sha1hex(string.sub(field, 2)))
	end
end
redis.call('DEL', KEYS[3])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('SREM', KEYS[2], ARGV[1])
return 1
`)

// leadScript takes or extends the lease of a day's job unless the job is
// done.
//
// KEYS: 1 done marker, 2 lease. ARGV: 1 token, 2 lease in milliseconds.
// Returns 1 when the caller holds the lease.
var leadScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if redis.call('GET', KEYS[2]) == ARGV[1] then
	redis.call('PEXPIRE', KEYS[2], ARGV[2])
	return 1
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
`)

// doneScript marks a day's job done and releases the caller's lease.
//
// KEYS: 1 done marker, 2 lease. ARGV: 1 token, 2 retention of the marker
// in milliseconds.
var doneScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
`)

// unlockScript releases a fetch lock if it is still the caller's.
//
// KEYS: 1 lock. ARGV: 1 token. Returns 1 when it deleted the lock.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
