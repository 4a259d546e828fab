-- Errors and rate limits per hour
--
-- Per hour of one day and HTTP status: the queries answered with an error (4xx/5xx) or that
-- hit, or nearly hit, a rate limit, and how many of them hit each kind of limit (read, write,
-- compute; a 429 names the limits in RATE_LIMITS_HIT, and so may a 200 that came close).
-- Parameters, in order:
--   1. the database partition: 'ECommerce', 'ECommerce%2Fprod', or '__all__'
--   2. the day, e.g. '2026-11-24'
SELECT
  date_trunc('hour', ts) AS hour,
  http_status,
  count(*) AS queries,
  count_if(contains(rate_limits_hit, 'read')) AS read_limit_hits,
  count_if(contains(rate_limits_hit, 'write')) AS write_limit_hits,
  count_if(contains(rate_limits_hit, 'compute')) AS compute_limit_hits
FROM query_logs_typed
WHERE scope_database = ?
  AND window_day = CAST(? AS date)
  AND (http_status >= 400 OR cardinality(rate_limits_hit) > 0)
GROUP BY date_trunc('hour', ts), http_status
ORDER BY hour, http_status
