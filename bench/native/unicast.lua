-- wrk script of scenario C: one message per request to a random user, stamped with the send time
-- (`~t<ms>,`, the mark the load generator's subscribers scan for), in Herald's body or Nchan's.
-- Environment: BENCH_USERS (users u0..u<n-1>), BENCH_STYLE (`herald` or `nchan`).
-- done() prints one line, `WRK_JSON {...}`: counts, latency percentiles (µs) and wrk's own CPU.
local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_usec; } bench_timeval;
  typedef struct { bench_timeval ru_utime; bench_timeval ru_stime; long ru_rest[14]; } bench_rusage;
  int gettimeofday(bench_timeval *tv, void *tz);
  int getrusage(int who, bench_rusage *usage);
]])

local users = tonumber(os.getenv("BENCH_USERS") or "10000")
local nchan = os.getenv("BENCH_STYLE") == "nchan"
local padding = string.rep("x", 60)
local tv = ffi.new("bench_timeval")
local json = { ["Content-Type"] = "application/json" }

local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end

function init()
  math.randomseed(os.time())
end

function request()
  local user = "u" .. math.random(0, users - 1)
  local data = string.format("~t%.3f,%s", now_ms(), padding)
  if nchan then
    return wrk.format("POST", "/pub?id=" .. user, json, data)
  end
  return wrk.format("POST", "/messages", json, '{"to":{"users":["' .. user .. '"]},"data":"' .. data .. '"}')
end

function done(summary, latency, requests)
  local usage = ffi.new("bench_rusage")
  ffi.C.getrusage(0, usage)
  local cpu_ms = (tonumber(usage.ru_utime.tv_sec) + tonumber(usage.ru_stime.tv_sec)) * 1000
    + (tonumber(usage.ru_utime.tv_usec) + tonumber(usage.ru_stime.tv_usec)) / 1000
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"errors":%d,"status":%d,"p50":%.1f,"p99":%.1f,"max":%.1f,"cpuMs":%.1f}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.max, cpu_ms))
end
