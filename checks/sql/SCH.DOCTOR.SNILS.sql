-- SCH.DOCTOR.SNILS (doctor): doctor_snils is empty or not a valid SNILS on any of the doctor's
-- future slots. value: the smallest such doctor_snils. Routed like SCH.STALE (reading 11).
-- f NOT MATERIALIZED: read twice (route and bad), it is scanned twice, which costs less than
-- materialising every future slot.
WITH f AS NOT MATERIALIZED (
    SELECT doctor_id, mo_code, doctor_snils, doctor_snils_valid FROM $batch WHERE is_future
),
route AS ($doctor_route),
bad AS (
    SELECT doctor_id, min(doctor_snils) AS value
    FROM f
    WHERE NOT coalesce(doctor_snils_valid, false)
    GROUP BY doctor_id
)
SELECT 'SCH.DOCTOR.SNILS' AS check_code, b.doctor_id AS record_id, 'doctor_snils' AS field,
       b.value AS value, CAST(NULL AS VARCHAR) AS patient_id, r.mo_code AS route_mo
FROM bad AS b
JOIN route AS r ON r.doctor_id = b.doctor_id
