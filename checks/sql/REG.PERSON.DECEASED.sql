-- REG.PERSON.DECEASED: linked, the register's death date parses and is <= D, and the patient
-- still has an active policy or an active attachment. The deceased are few: the policies and
-- attachments are matched to them first, not collected for every patient.
SELECT 'REG.PERSON.DECEASED' AS check_code, p.patient_id AS record_id, 'patient_id' AS field,
       p.patient_id AS value, p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
JOIN (SELECT patient_id FROM reg_values WHERE deceased) AS v ON v.patient_id = p.patient_id
WHERE p.patient_id IN (SELECT a.patient_id FROM stg_policies AS a SEMI JOIN reg_values AS w
                         ON w.patient_id = a.patient_id AND w.deceased WHERE a.is_active)
   OR p.patient_id IN (SELECT a.patient_id FROM stg_attachments AS a SEMI JOIN reg_values AS w
                         ON w.patient_id = a.patient_id AND w.deceased WHERE a.is_active)
