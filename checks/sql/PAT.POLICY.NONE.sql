-- PAT.POLICY.NONE: the patient has no active policy.
-- An ANTI JOIN, not NOT EXISTS: under GX the batch is a filtered derived table, and DuckDB
-- does not decorrelate NOT EXISTS through it (3x slower at 1M patients).
SELECT 'PAT.POLICY.NONE' AS check_code, p.patient_id AS record_id, 'patient_id' AS field,
       p.patient_id AS value, p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
ANTI JOIN (SELECT patient_id FROM stg_policies WHERE is_active) AS q
    ON q.patient_id = p.patient_id
