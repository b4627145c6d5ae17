-- PAT.SNILS.DUPLICATE: one valid SNILS, compared as its 11 digits (formatted and bare forms
-- collide, reading 8), on two or more patient_ids: a finding for each of them.
-- Two groupings: first the digits held by two or more valid rows (a count, no string
-- aggregate over every patient), then, on those few, the ones whose rows name two or more
-- distinct patient_ids, tested as min(patient_id) <> max(patient_id) (the same as
-- count(DISTINCT patient_id) >= 2, NULLs left out by both).
WITH twice AS (
    SELECT snils_digits FROM $batch
    WHERE snils_valid
    GROUP BY snils_digits
    HAVING count(*) >= 2
),
dup AS (
    SELECT p.snils_digits FROM $batch AS p
    SEMI JOIN twice AS t ON t.snils_digits = p.snils_digits
    WHERE p.snils_valid
    GROUP BY p.snils_digits
    HAVING min(p.patient_id) <> max(p.patient_id)
)
SELECT 'PAT.SNILS.DUPLICATE' AS check_code, p.patient_id AS record_id, 'snils' AS field,
       p.snils AS value, p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
SEMI JOIN dup AS d ON d.snils_digits = p.snils_digits
WHERE p.snils_valid
