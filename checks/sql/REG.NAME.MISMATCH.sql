-- REG.NAME.MISMATCH: linked, no PAT.NAME.INVALID on the patient in this run, and the
-- normalised full names differ (case, Ё/Е and spacing are no difference).
SELECT 'REG.NAME.MISMATCH' AS check_code, p.patient_id AS record_id,
       'last_name, first_name, middle_name' AS field,
       concat_ws(' ', p.last_name, p.first_name, NULLIF(p.middle_name, '')) AS value,
       p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
JOIN reg_values AS v ON v.patient_id = p.patient_id
ANTI JOIN (SELECT record_id FROM run_findings WHERE check_code = 'PAT.NAME.INVALID') AS n
    ON n.record_id = p.patient_id
WHERE p.nl <> v.nl OR p.nf <> v.nf OR p.nm <> v.nm
