-- ATT.MO.EXCLUDED: an active attachment to an MO that is in F003 but excluded on D.
SELECT 'ATT.MO.EXCLUDED' AS check_code, a.attachment_id AS record_id, 'mo_code' AS field,
       a.mo_code AS value, a.patient_id AS patient_id, a.mo_code AS route_mo
FROM $batch AS a
WHERE a.is_active
  AND EXISTS (SELECT 1 FROM cur_mo AS m WHERE m.mcod = a.mo_code AND m.excluded)
