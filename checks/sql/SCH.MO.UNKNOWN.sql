-- SCH.MO.UNKNOWN: a future slot whose mo_code is not a known MO, or is an excluded one.
SELECT 'SCH.MO.UNKNOWN' AS check_code, s.slot_id AS record_id, 'mo_code' AS field,
       s.mo_code AS value, nullif(s.patient_id, '') AS patient_id, s.mo_code AS route_mo
FROM $batch AS s
WHERE s.is_future
  AND NOT EXISTS (
      SELECT 1 FROM cur_mo AS m WHERE m.mcod = s.mo_code AND NOT coalesce(m.excluded, false))
