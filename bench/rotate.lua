-- wrk script: cycle through the request paths listed one per line in $ANJU_BENCH_PATHS,
-- each wrk thread starting at its own offset so the threads do not scan in lockstep.
local paths = {}
for line in io.lines(os.getenv("ANJU_BENCH_PATHS")) do
  paths[#paths + 1] = line
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("first", threads)
end

local next_index = nil
function request()
  if next_index == nil then
    next_index = ((first or 1) * 7919) % #paths
  end
  next_index = next_index % #paths + 1
  return wrk.format(nil, paths[next_index])
end
