-- ATT.POLICY.REGION: an active attachment to a known MO (excluded or not) whose code's first
-- two characters are not the KOD_TF (F010 valid on D) of the okato of the patient's active
-- policy. Checked only where the patient_id (as text) has exactly one active policy and that
-- policy's okato is in cur_f010; should an okato map to several KOD_TF on D, matching any of
-- them passes.
WITH single_policy AS (
    SELECT patient_id, min(okato) AS okato
    FROM stg_policies
    WHERE is_active
    GROUP BY patient_id
    HAVING count(*) = 1
)
SELECT 'ATT.POLICY.REGION' AS check_code, a.attachment_id AS record_id, 'mo_code' AS field,
       a.mo_code AS value, a.patient_id AS patient_id, a.mo_code AS route_mo
FROM $batch AS a
JOIN single_policy AS sp ON sp.patient_id = a.patient_id
WHERE a.is_active
  AND EXISTS (SELECT 1 FROM cur_mo AS m WHERE m.mcod = a.mo_code)
  AND EXISTS (SELECT 1 FROM cur_f010 AS f WHERE f.kod_okato = sp.okato)
  AND NOT EXISTS (
      SELECT 1 FROM cur_f010 AS f
      WHERE f.kod_okato = sp.okato AND f.kod_tf = left(a.mo_code, 2))
