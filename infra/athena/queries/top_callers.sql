-- Top callers
--
-- The callers that sent the most queries on one day, by user agent and X-Forwarded-For (the
-- client's address, then any proxies), with their compute ops and errors.
-- Parameters, in order:
--   1. the database partition: 'ECommerce', 'ECommerce%2Fprod', or '__all__'
--   2. the day, e.g. '2026-11-24'
SELECT
  user_agent,
  forwarded_for,
  count(*) AS queries,
  sum(compute_ops) AS compute_ops,
  count_if(http_status >= 400) AS errors
FROM query_logs_typed
WHERE scope_database = ?
  AND window_day = CAST(? AS date)
GROUP BY user_agent, forwarded_for
ORDER BY queries DESC, user_agent, forwarded_for
LIMIT 25
