-- PAT.POLICY.NONE: the patient has no active policy.
SELECT 'PAT.POLICY.NONE' AS check_code, p.patient_id AS record_id, 'patient_id' AS field,
       p.patient_id AS value, p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
WHERE NOT EXISTS (
    SELECT 1 FROM stg_policies AS q WHERE q.patient_id = p.patient_id AND q.is_active)
