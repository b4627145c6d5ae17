-- PAT.SNILS.DUPLICATE: one valid SNILS, compared as its 11 digits (formatted and bare forms
-- collide, reading 8), on two or more patient_ids: a finding for each of them.
-- "Two or more distinct patient_ids" is tested as min(patient_id) <> max(patient_id): the same
-- as count(DISTINCT patient_id) >= 2 (NULLs left out by both) in one grouping of the digits,
-- where count(DISTINCT) groups by (digits, patient_id) first.
SELECT 'PAT.SNILS.DUPLICATE' AS check_code, p.patient_id AS record_id, 'snils' AS field,
       p.snils AS value, p.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS p
WHERE p.snils_valid
  AND p.snils_digits IN (
      SELECT snils_digits FROM $batch
      WHERE snils_valid
      GROUP BY snils_digits
      HAVING min(patient_id) <> max(patient_id))
