-- REG.SNILS.MISMATCH: linked, both SNILS valid, their 11 digits differ.
SELECT 'REG.SNILS.MISMATCH' AS check_code, p.patient_id AS record_id, 'snils' AS field,
       p.snils AS value, p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
JOIN reg_values AS v ON v.patient_id = p.patient_id
WHERE p.snils_valid AND v.snils_valid AND p.snils_digits <> v.snils_digits
