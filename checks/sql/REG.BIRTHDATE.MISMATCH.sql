-- REG.BIRTHDATE.MISMATCH: linked, no PAT.BIRTHDATE.INVALID on the patient in this run, the
-- register's birth date parses and differs.
SELECT 'REG.BIRTHDATE.MISMATCH' AS check_code, p.patient_id AS record_id, 'birth_date' AS field,
       p.birth_date AS value, p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
JOIN reg_values AS v ON v.patient_id = p.patient_id
ANTI JOIN (SELECT record_id FROM run_findings WHERE check_code = 'PAT.BIRTHDATE.INVALID') AS n
    ON n.record_id = p.patient_id
WHERE v.birth_date_d IS NOT NULL AND p.birth_date_d IS DISTINCT FROM v.birth_date_d
