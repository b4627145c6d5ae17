-- ATT.MO.UNKNOWN: an active attachment whose mo_code is not in F003 (cur_mo).
SELECT 'ATT.MO.UNKNOWN' AS check_code, a.attachment_id AS record_id, 'mo_code' AS field,
       a.mo_code AS value, a.patient_id AS patient_id, a.mo_code AS route_mo
FROM $batch AS a
-- an ANTI JOIN, not NOT EXISTS: see PAT.POLICY.NONE
ANTI JOIN cur_mo AS m ON m.mcod = a.mo_code
WHERE a.is_active
