-- SCH.SPECIALTY.UNKNOWN: a future slot whose specialty_code is not a V021 code valid on the
-- slot's date (any row of the run with date_begin <= date and (no date_end or date_end >= date)).
SELECT 'SCH.SPECIALTY.UNKNOWN' AS check_code, s.slot_id AS record_id, 'specialty_code' AS field,
       s.specialty_code AS value, nullif(s.patient_id, '') AS patient_id, s.mo_code AS route_mo
FROM $batch AS s
WHERE s.is_future
  AND NOT EXISTS (
      SELECT 1 FROM ref_v021 AS v
      WHERE v.run_id = $run_id
        AND v.idspec = s.specialty_code
        AND v.date_begin <= CAST(s.start_ts AS DATE)
        AND (v.date_end IS NULL OR v.date_end >= CAST(s.start_ts AS DATE)))
