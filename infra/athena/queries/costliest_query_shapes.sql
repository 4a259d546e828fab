-- Costliest query shapes of a day
--
-- The query shapes (FQL with its literals redacted) that used the most compute ops on one
-- day, with their read and write ops and their share of the day's compute.
-- Parameters, in order (the Athena console asks for each ?):
--   1. the database partition: 'ECommerce', a nested path with %2F for '/' such as
--      'ECommerce%2Fprod', or '__all__' for a region-group export
--   2. the day, e.g. '2026-11-24'
SELECT
  fql_shape,
  count(*) AS queries,
  sum(compute_ops) AS compute_ops,
  sum(byte_read_ops) AS byte_read_ops,
  sum(byte_write_ops) AS byte_write_ops,
  round(100 * CAST(sum(compute_ops) AS double) / sum(sum(compute_ops)) OVER (), 1) AS pct_of_compute
FROM query_logs_typed
WHERE scope_database = ?
  AND window_day = CAST(? AS date)
GROUP BY fql_shape
ORDER BY compute_ops DESC, fql_shape
LIMIT 20
