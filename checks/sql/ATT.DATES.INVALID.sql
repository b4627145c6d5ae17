-- ATT.DATES.INVALID (every attachment, active or not): attach_date empty, unparseable, after D,
-- or before the patient's birth date (where the patient exists and the birth date parses); or
-- detach_date non-empty and unparseable, or before attach_date. field/value name the attach
-- date when it is at fault, else the detach date.
WITH judged AS (
    SELECT a.*,
           (a.attach_date = '' OR a.attach_date_d IS NULL OR a.attach_date_d > $d
            OR coalesce(a.attach_date_d < p.birth_date_d, false)) AS attach_bad,
           ((a.detach_date <> '' AND a.detach_date_d IS NULL)
            OR coalesce(a.detach_date_d < a.attach_date_d, false)) AS detach_bad
    FROM $batch AS a
    LEFT JOIN stg_patients AS p ON p.patient_id = a.patient_id
)
SELECT 'ATT.DATES.INVALID' AS check_code, a.attachment_id AS record_id,
       CASE WHEN a.attach_bad THEN 'attach_date' ELSE 'detach_date' END AS field,
       CASE WHEN a.attach_bad THEN a.attach_date ELSE a.detach_date END AS value,
       a.patient_id AS patient_id, a.mo_code AS route_mo
FROM judged AS a
WHERE a.attach_bad OR a.detach_bad
