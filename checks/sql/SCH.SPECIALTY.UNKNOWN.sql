-- SCH.SPECIALTY.UNKNOWN: a future slot whose specialty_code is not a V021 code valid on the
-- slot's date (any row of the run with date_begin <= date and (no date_end or date_end >= date)).
-- V021 is looked up once per distinct (specialty_code, date) of the future slots (a few
-- thousand), not once per slot; the unknown pairs are then semi joined back to the slots (a
-- NULL specialty_code is never valid: its pair is unknown and matches its slots).
-- f NOT MATERIALIZED: read twice (the pairs and the slots), it is scanned twice, which costs
-- less than materialising every future slot.
WITH f AS NOT MATERIALIZED (
    SELECT slot_id, specialty_code, patient_id, mo_code, CAST(start_ts AS DATE) AS day
    FROM $batch
    WHERE is_future
),
unknown AS (
    SELECT k.specialty_code, k.day
    FROM (SELECT DISTINCT specialty_code, day FROM f) AS k
    WHERE NOT EXISTS (
        SELECT 1 FROM ref_v021 AS v
        WHERE v.run_id = $run_id
          AND v.idspec = k.specialty_code
          AND v.date_begin <= k.day
          AND (v.date_end IS NULL OR v.date_end >= k.day))
)
SELECT 'SCH.SPECIALTY.UNKNOWN' AS check_code, s.slot_id AS record_id, 'specialty_code' AS field,
       s.specialty_code AS value, nullif(s.patient_id, '') AS patient_id, s.mo_code AS route_mo
FROM f AS s
SEMI JOIN unknown AS u ON u.specialty_code IS NOT DISTINCT FROM s.specialty_code
    AND u.day IS NOT DISTINCT FROM s.day
