-- query_logs_typed: the query logs with typed columns where Fauna writes strings.
--
-- One row per query, as in query_logs, plus:
--   ts             TS in either documented form ("2099-05-10 18:05:42.871 Z", or ISO 8601
--                  "2024-06-24T17:19:52.790106Z"), as a UTC timestamp, to the millisecond
--                  (further digits dropped, not rounded); NULL when TS is neither
--   http_status    RESPONSE_CODE as an integer (NULL when it is not a number)
--   user_agent, forwarded_for
--                  from the JSON that REQUEST_HEADERS holds (NULL when it is not JSON)
--   client_address the first address of forwarded_for: the caller, before any proxy
--   database_path  DATABASE joined with '/' ('' for Dashboard queries)
-- The raw TS stays as ts_text. The partition columns come through, so a filter on them here
-- still decides which objects Athena reads: say scope_database and window_day.
CREATE OR REPLACE VIEW query_logs_typed AS
SELECT
  scope_region_group,
  scope_database,
  window_day,
  try(CAST(date_trunc('millisecond', from_iso8601_timestamp(replace(replace(ts, ' Z', 'Z'), ' ', 'T'))) AT TIME ZONE 'UTC' AS timestamp(3))) AS ts,
  ts AS ts_text,
  try_cast(response_code AS integer) AS http_status,
  response_code,
  try(json_extract_scalar(request_headers, '$.user_agent')) AS user_agent,
  try(json_extract_scalar(request_headers, '$.x_forwarded_for')) AS forwarded_for,
  trim(split_part(try(json_extract_scalar(request_headers, '$.x_forwarded_for')), ',', 1)) AS client_address,
  array_join(database, '/') AS database_path,
  database,
  region_group,
  fql_shape,
  api_version,
  request_method,
  bytes_in,
  bytes_out,
  byte_read_ops,
  byte_write_ops,
  compute_ops,
  query_time_ms,
  txn_retries,
  rate_limits_hit,
  tags,
  traceparent,
  request_headers
FROM query_logs
