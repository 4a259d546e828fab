-- Usage per database per day
--
-- Queries, ops and bytes per Fauna database (its path below the region group) per day, over
-- a range of days: which database grew. A region-group export ('__all__') breaks down into
-- every database of the group; '' is the Dashboard's.
-- Parameters, in order:
--   1. the database partition: 'ECommerce', 'ECommerce%2Fprod', or '__all__'
--   2. the first day, e.g. '2026-11-24'
--   3. the last day (included), e.g. '2026-11-25'
SELECT
  window_day AS day,
  region_group,
  database_path,
  count(*) AS queries,
  sum(compute_ops) AS compute_ops,
  sum(byte_read_ops) AS byte_read_ops,
  sum(byte_write_ops) AS byte_write_ops,
  sum(bytes_in) AS bytes_in,
  sum(bytes_out) AS bytes_out
FROM query_logs_typed
WHERE scope_database = ?
  AND window_day BETWEEN CAST(? AS date) AND CAST(? AS date)
GROUP BY window_day, region_group, database_path
ORDER BY day, compute_ops DESC, region_group, database_path
