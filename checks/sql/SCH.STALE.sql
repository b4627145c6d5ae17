-- SCH.STALE (doctor): the doctor has future slots and the latest parseable updated_at among them
-- is before as_of - stale_hours, or none of them parses. value: the raw text of that latest
-- updated_at (NULL when none parses). Routed to the doctor's most frequent future mo_code,
-- ties to the smallest (reading 11).
WITH f AS (
    SELECT doctor_id, mo_code, updated_at, updated_ts FROM $batch WHERE is_future
),
route AS ($doctor_route),
latest AS (
    SELECT doctor_id, max(updated_ts) AS last_ts,
           arg_max(updated_at, struct_pack(t := updated_ts, raw := updated_at))
               FILTER (WHERE updated_ts IS NOT NULL) AS last_raw
    FROM f
    GROUP BY doctor_id
)
SELECT 'SCH.STALE' AS check_code, l.doctor_id AS record_id, 'updated_at' AS field,
       l.last_raw AS value, CAST(NULL AS VARCHAR) AS patient_id, r.mo_code AS route_mo
FROM latest AS l
JOIN route AS r ON r.doctor_id = l.doctor_id
WHERE l.last_ts IS NULL
   OR l.last_ts < $as_of - to_hours(CAST($stale_hours AS BIGINT))
