-- POL.ACTIVE.MULTIPLE: the patient_id (as text, whether the patient exists or not: reading 8)
-- has two or more active policies: a finding for each of them.
-- A grouping and a semi join, not count(*) OVER (PARTITION BY patient_id): the window sorts
-- every active policy (a third more CPU at 10M patients). NULL patient_ids group together in
-- both, hence IS NOT DISTINCT FROM.
SELECT 'POL.ACTIVE.MULTIPLE' AS check_code, q.policy_id AS record_id, 'date_end' AS field,
       q.date_end AS value, q.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS q
SEMI JOIN (SELECT patient_id FROM $batch WHERE is_active
           GROUP BY patient_id HAVING count(*) >= 2) AS m
    ON m.patient_id IS NOT DISTINCT FROM q.patient_id
WHERE q.is_active
