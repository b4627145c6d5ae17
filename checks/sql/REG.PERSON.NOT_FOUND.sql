-- REG.PERSON.NOT_FOUND: a loaded patient that no tier links to a register person
-- ($batch: stg_patients staged with the register's columns, see checks/register.py);
-- reg_unlinked holds the patient_id of each (linking makes it, checks/register.py).
SELECT 'REG.PERSON.NOT_FOUND' AS check_code, p.patient_id AS record_id,
       'last_name, first_name, middle_name' AS field,
       concat_ws(' ', p.last_name, p.first_name, NULLIF(p.middle_name, '')) AS value,
       p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
SEMI JOIN reg_unlinked AS u ON u.patient_id IS NOT DISTINCT FROM p.patient_id
