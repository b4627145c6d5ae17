-- ATT.ACTIVE.MULTIPLE: the patient_id (as text, whether the patient exists or not: reading 8)
-- has two or more active attachments: a finding for each of them.
SELECT 'ATT.ACTIVE.MULTIPLE' AS check_code, a.attachment_id AS record_id, 'detach_date' AS field,
       a.detach_date AS value, a.patient_id AS patient_id, a.mo_code AS route_mo
FROM $batch AS a
WHERE a.is_active
QUALIFY count(*) OVER (PARTITION BY a.patient_id) >= 2
