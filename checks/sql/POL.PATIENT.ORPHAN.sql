-- POL.PATIENT.ORPHAN: the policy's patient_id is not a (loaded) patient.
SELECT 'POL.PATIENT.ORPHAN' AS check_code, q.policy_id AS record_id, 'patient_id' AS field,
       q.patient_id AS value, q.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS q
-- an ANTI JOIN, not NOT EXISTS: see PAT.POLICY.NONE
ANTI JOIN stg_patients AS p ON p.patient_id = q.patient_id
