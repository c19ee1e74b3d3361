-- Shared by the wrk scripts (loaded with dofile from BENCH_PACING, set by serving.run_wrk):
-- a delay() for wrk that pauses `pause` milliseconds before each request, fractions
-- allowed. wrk's timers count whole milliseconds, so the fraction is made up by pausing
-- one millisecond more now and then. Returns nil for no pause (as fast as possible).
return function(pause)
  if pause <= 0 then
    return nil
  end
  local whole, part, owed = math.floor(pause), pause - math.floor(pause), 0
  return function()
    owed = owed + part
    if owed >= 1 then
      owed = owed - 1
      return whole + 1
    end
    return whole
  end
end
