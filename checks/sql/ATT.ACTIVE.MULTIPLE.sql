-- ATT.ACTIVE.MULTIPLE: the patient_id (as text, whether the patient exists or not: reading 8)
-- has two or more active attachments: a finding for each of them.
-- A grouping and a semi join, not a window: see POL.ACTIVE.MULTIPLE.
SELECT 'ATT.ACTIVE.MULTIPLE' AS check_code, a.attachment_id AS record_id, 'detach_date' AS field,
       a.detach_date AS value, a.patient_id AS patient_id, a.mo_code AS route_mo
FROM $batch AS a
SEMI JOIN (SELECT patient_id FROM $batch WHERE is_active
           GROUP BY patient_id HAVING count(*) >= 2) AS m
    ON m.patient_id IS NOT DISTINCT FROM a.patient_id
WHERE a.is_active
