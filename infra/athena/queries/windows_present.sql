-- Is every window there?
--
-- Every day of a range with the exported windows (objects) the table reads for it, each
-- window's record count, and how much of the day the windows cover (86400 s: all of it).
-- A day with no row but a NULL window, or covered less than 86400 s, lacks a window.
-- Compare each window's records with its manifest (_<window>.manifest.json beside the object):
-- they are equal when the export is whole. That comparison stays outside SQL: the manifests'
-- names start with '_' so that Athena never reads them as log rows, and so no table can read
-- them. A window Fauna had no logs for has a manifest with "records": 0 and no object.
-- Days after today (the table holds none yet) and more than 9,999 days before it are not listed.
-- Parameters, in order:
--   1. the first day, e.g. '2026-11-24'
--   2. the last day (included), e.g. '2026-11-25'
--   3. the database partition: 'ECommerce', 'ECommerce%2Fprod', or '__all__'
--   4. the first day again
--   5. the last day again
WITH days AS (
  -- Athena takes ? parameters only in a WHERE clause: the last 10,000 days to today (the most
  -- one sequence may hold), then the range asked for.
  SELECT day
  FROM UNNEST(sequence(current_date - INTERVAL '9999' DAY, current_date, INTERVAL '1' DAY)) AS t (day)
  WHERE day BETWEEN CAST(? AS date) AND CAST(? AS date)
),
windows AS (
  SELECT
    scope_region_group,
    window_day,
    "$path" AS object,
    date_parse(regexp_extract("$path", '([0-9]{8}T[0-9]{6}Z)_[0-9]{8}T[0-9]{6}Z\.jsonl\.gz$', 1), '%Y%m%dT%H%i%sZ') AS window_start,
    date_parse(regexp_extract("$path", '[0-9]{8}T[0-9]{6}Z_([0-9]{8}T[0-9]{6}Z)\.jsonl\.gz$', 1), '%Y%m%dT%H%i%sZ') AS window_end,
    count(*) AS records
  FROM query_logs
  WHERE scope_database = ?
    AND window_day BETWEEN CAST(? AS date) AND CAST(? AS date)
  GROUP BY scope_region_group, window_day, "$path"
)
SELECT
  d.day,
  w.scope_region_group,
  w.window_start,
  w.window_end,
  w.records,
  coalesce(sum(date_diff('second', w.window_start, w.window_end)) OVER (PARTITION BY d.day, w.scope_region_group), 0) AS day_seconds_covered,
  w.object
FROM days AS d
LEFT JOIN windows AS w ON w.window_day = d.day
ORDER BY d.day, w.scope_region_group, w.window_start
