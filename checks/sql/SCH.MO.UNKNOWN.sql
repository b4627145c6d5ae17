-- SCH.MO.UNKNOWN: a future slot whose mo_code is not a known MO, or is an excluded one.
SELECT 'SCH.MO.UNKNOWN' AS check_code, s.slot_id AS record_id, 'mo_code' AS field,
       s.mo_code AS value, nullif(s.patient_id, '') AS patient_id, s.mo_code AS route_mo
FROM $batch AS s
-- an ANTI JOIN, not NOT EXISTS: see PAT.POLICY.NONE
ANTI JOIN (SELECT mcod FROM cur_mo WHERE NOT coalesce(excluded, false)) AS m
    ON m.mcod = s.mo_code
WHERE s.is_future
