-- SCH.BOOKED.ORPHAN: a future 'booked' slot whose patient_id is non-empty and not a patient.
SELECT 'SCH.BOOKED.ORPHAN' AS check_code, s.slot_id AS record_id, 'patient_id' AS field,
       s.patient_id AS value, s.patient_id AS patient_id, s.mo_code AS route_mo
FROM $batch AS s
-- an ANTI JOIN, not NOT EXISTS: see PAT.POLICY.NONE
ANTI JOIN stg_patients AS p ON p.patient_id = s.patient_id
WHERE s.is_future AND s.status = 'booked' AND s.patient_id <> ''
