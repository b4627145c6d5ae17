-- ATT.PATIENT.ORPHAN: the attachment's patient_id is not a (loaded) patient.
SELECT 'ATT.PATIENT.ORPHAN' AS check_code, a.attachment_id AS record_id, 'patient_id' AS field,
       a.patient_id AS value, a.patient_id AS patient_id, a.mo_code AS route_mo
FROM $batch AS a
-- an ANTI JOIN, not NOT EXISTS: see PAT.POLICY.NONE
ANTI JOIN stg_patients AS p ON p.patient_id = a.patient_id
