-- ATT.POLICY.REGION: an active attachment to a known MO (excluded or not) whose code's first
-- two characters are not the KOD_TF (F010 valid on D) of the okato of the patient's active
-- policy. Checked only where the patient_id (as text) has exactly one active policy and that
-- policy's okato is in cur_f010; should an okato map to several KOD_TF on D, matching any of
-- them passes.
-- `bad`: the failing (MO, okato) pairs, from the classifiers alone (a few thousand): a known
-- MO and an okato in cur_f010 with no KOD_TF of that okato equal to the MO code's first two
-- characters. `hit`: active attachments joined to the active policies of their patient_id
-- whose pair is bad (no grouping of every patient's policies); of those, findings are the ones
-- whose patient_id has exactly one active policy (counted for hit's patients only), which is
-- then the bad one, so each attachment appears once.
-- The join of every active attachment to every active policy is split in two disjoint halves,
-- each joining a few rows to the other table: `home` is the okato most active policies carry
-- (the region's own); `away`: the active policies of another okato (or none) with the active
-- attachments of their patient_id; `at_home`: the active policies of the home okato with the
-- active attachments to an MO that is bad with it. Together they are every bad pair: one of
-- another okato is in `away`, one of the home okato in `at_home`. Whatever okato `home` is
-- (ties, NULL), the halves stay disjoint and complete: it only decides which half is small.
WITH bad AS (
    SELECT DISTINCT m.mcod AS mo_code, o.kod_okato AS okato
    FROM cur_mo AS m, (SELECT DISTINCT kod_okato FROM cur_f010) AS o
    WHERE NOT EXISTS (SELECT 1 FROM cur_f010 AS f
                      WHERE f.kod_okato = o.kod_okato AND f.kod_tf = left(m.mcod, 2))
),
active_policies AS NOT MATERIALIZED (
    SELECT patient_id, okato FROM stg_policies WHERE is_active
),
home AS (SELECT mode(okato) AS okato FROM active_policies),
pairs AS (
    -- away: ANTI JOIN keeps a NULL okato (and everything when home is NULL)
    SELECT a.attachment_id, a.patient_id, a.mo_code, q.okato
    FROM $batch AS a
    JOIN (SELECT q.patient_id, q.okato FROM active_policies AS q
          ANTI JOIN home AS h ON h.okato = q.okato) AS q
        ON q.patient_id = a.patient_id
    WHERE a.is_active
    UNION ALL
    -- at_home
    SELECT a.attachment_id, a.patient_id, a.mo_code, q.okato
    FROM (SELECT a.attachment_id, a.patient_id, a.mo_code FROM $batch AS a
          SEMI JOIN (SELECT b.mo_code FROM bad AS b SEMI JOIN home AS h ON h.okato = b.okato) AS m
              ON m.mo_code = a.mo_code
          WHERE a.is_active) AS a
    JOIN (SELECT q.patient_id, q.okato FROM active_policies AS q
          SEMI JOIN home AS h ON h.okato = q.okato) AS q
        ON q.patient_id = a.patient_id
),
hit AS (
    SELECT p.attachment_id, p.patient_id, p.mo_code
    FROM pairs AS p
    JOIN bad ON bad.mo_code = p.mo_code AND bad.okato = p.okato
)
SELECT 'ATT.POLICY.REGION' AS check_code, h.attachment_id AS record_id, 'mo_code' AS field,
       h.mo_code AS value, h.patient_id AS patient_id, h.mo_code AS route_mo
FROM hit AS h
WHERE h.patient_id IN (
    SELECT q.patient_id FROM stg_policies AS q
    WHERE q.is_active AND q.patient_id IN (SELECT patient_id FROM hit)
    GROUP BY q.patient_id HAVING count(*) = 1)
