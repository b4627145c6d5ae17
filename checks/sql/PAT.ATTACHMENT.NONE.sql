-- PAT.ATTACHMENT.NONE: the patient has an active policy but no active attachment (to any MO).
SELECT 'PAT.ATTACHMENT.NONE' AS check_code, p.patient_id AS record_id, 'patient_id' AS field,
       p.patient_id AS value, p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
WHERE EXISTS (
    SELECT 1 FROM stg_policies AS q WHERE q.patient_id = p.patient_id AND q.is_active)
  AND NOT EXISTS (
    SELECT 1 FROM stg_attachments AS a WHERE a.patient_id = p.patient_id AND a.is_active)
