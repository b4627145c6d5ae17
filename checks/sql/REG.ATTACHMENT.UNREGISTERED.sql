-- REG.ATTACHMENT.UNREGISTERED: an active attachment of a linked patient to a known, not
-- excluded MO, while the register knows no attachment of the person.
SELECT 'REG.ATTACHMENT.UNREGISTERED' AS check_code, a.attachment_id AS record_id,
       'mo_code' AS field, a.mo_code AS value, a.patient_id AS patient_id, a.mo_code AS route_mo
FROM $batch AS a
JOIN reg_values AS v ON v.patient_id = a.patient_id
JOIN cur_mo AS m ON m.mcod = a.mo_code AND NOT m.excluded
WHERE a.is_active AND v.attach_mo_code = ''
