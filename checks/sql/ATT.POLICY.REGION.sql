-- ATT.POLICY.REGION: an active attachment to a known MO (excluded or not) whose code's first
-- two characters are not the KOD_TF (F010 valid on D) of the okato of the patient's active
-- policy. Checked only where the patient_id (as text) has exactly one active policy and that
-- policy's okato is in cur_f010; should an okato map to several KOD_TF on D, matching any of
-- them passes.
-- `bad`: the failing (MO, okato) pairs, from the classifiers alone (a few thousand): a known
-- MO and an okato in cur_f010 with no KOD_TF of that okato equal to the MO code's first two
-- characters. `hit`: active attachments joined to the active policies of their patient_id
-- whose pair is bad (one join, no grouping of every patient's policies); of those, findings
-- are the ones whose patient_id has exactly one active policy (counted for hit's patients
-- only), which is then the bad one, so each attachment appears once.
WITH bad AS (
    SELECT DISTINCT m.mcod AS mo_code, o.kod_okato AS okato
    FROM cur_mo AS m, (SELECT DISTINCT kod_okato FROM cur_f010) AS o
    WHERE NOT EXISTS (SELECT 1 FROM cur_f010 AS f
                      WHERE f.kod_okato = o.kod_okato AND f.kod_tf = left(m.mcod, 2))
),
hit AS (
    SELECT a.attachment_id, a.patient_id, a.mo_code
    FROM $batch AS a
    JOIN stg_policies AS q ON q.patient_id = a.patient_id
    JOIN bad ON bad.mo_code = a.mo_code AND bad.okato = q.okato
    WHERE a.is_active AND q.is_active
)
SELECT 'ATT.POLICY.REGION' AS check_code, h.attachment_id AS record_id, 'mo_code' AS field,
       h.mo_code AS value, h.patient_id AS patient_id, h.mo_code AS route_mo
FROM hit AS h
WHERE h.patient_id IN (
    SELECT q.patient_id FROM stg_policies AS q
    WHERE q.is_active AND q.patient_id IN (SELECT patient_id FROM hit)
    GROUP BY q.patient_id HAVING count(*) = 1)
