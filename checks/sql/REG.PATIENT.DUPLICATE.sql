-- REG.PATIENT.DUPLICATE: each of two or more patients linked to the same register person.
SELECT 'REG.PATIENT.DUPLICATE' AS check_code, p.patient_id AS record_id, 'patient_id' AS field,
       p.patient_id AS value, p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
JOIN reg_values AS v ON v.patient_id = p.patient_id
WHERE v.linked_patients > 1
