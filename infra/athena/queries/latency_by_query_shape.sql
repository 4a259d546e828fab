-- Latency by query shape
--
-- Percentiles of QUERY_TIME_MS per query shape over a range of days: p50, p95, p99 (Athena's
-- approx_percentile, approximate by design) and the slowest.
-- Parameters, in order:
--   1. the database partition: 'ECommerce', 'ECommerce%2Fprod', or '__all__'
--   2. the first day, e.g. '2026-11-24'
--   3. the last day (included), e.g. '2026-11-25'
SELECT
  fql_shape,
  count(*) AS queries,
  approx_percentile(query_time_ms, 0.5) AS p50_ms,
  approx_percentile(query_time_ms, 0.95) AS p95_ms,
  approx_percentile(query_time_ms, 0.99) AS p99_ms,
  max(query_time_ms) AS max_ms
FROM query_logs_typed
WHERE scope_database = ?
  AND window_day BETWEEN CAST(? AS date) AND CAST(? AS date)
GROUP BY fql_shape
ORDER BY p99_ms DESC, fql_shape
