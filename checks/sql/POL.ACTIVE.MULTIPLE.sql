-- POL.ACTIVE.MULTIPLE: the patient_id (as text, whether the patient exists or not: reading 8)
-- has two or more active policies: a finding for each of them.
SELECT 'POL.ACTIVE.MULTIPLE' AS check_code, q.policy_id AS record_id, 'date_end' AS field,
       q.date_end AS value, q.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS q
WHERE q.is_active
QUALIFY count(*) OVER (PARTITION BY q.patient_id) >= 2
