-- REG.NAME.MISMATCH: linked, no PAT.NAME.INVALID on the patient in this run, and the
-- normalised full names differ (case, Ё/Е and spacing are no difference). The names are
-- compared in a join carrying only the normalised names (m); the names as written are read
-- for the few that differ (carried through the join of every linked patient: ~20% more CPU).
SELECT 'REG.NAME.MISMATCH' AS check_code, p.patient_id AS record_id,
       'last_name, first_name, middle_name' AS field,
       concat_ws(' ', p.last_name, p.first_name, NULLIF(p.middle_name, '')) AS value,
       p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
SEMI JOIN (SELECT q.patient_id FROM $batch AS q
           JOIN reg_values AS v ON v.patient_id = q.patient_id
           WHERE q.nl <> v.nl OR q.nf <> v.nf OR q.nm <> v.nm) AS m
    ON m.patient_id = p.patient_id
ANTI JOIN (SELECT record_id FROM run_findings WHERE check_code = 'PAT.NAME.INVALID') AS n
    ON n.record_id = p.patient_id
