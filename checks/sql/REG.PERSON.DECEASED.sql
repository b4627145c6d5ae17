-- REG.PERSON.DECEASED: linked, the register's death date parses and is <= D, and the patient
-- still has an active policy or an active attachment.
SELECT 'REG.PERSON.DECEASED' AS check_code, p.patient_id AS record_id, 'patient_id' AS field,
       p.patient_id AS value, p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
JOIN reg_values AS v ON v.patient_id = p.patient_id
WHERE v.deceased
  AND (p.patient_id IN (SELECT patient_id FROM stg_policies WHERE is_active)
       OR p.patient_id IN (SELECT patient_id FROM stg_attachments WHERE is_active))
