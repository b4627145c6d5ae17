-- SCH.HORIZON.EMPTY (mo_specialty, record_id '<mo_code>/<specialty_code>'): over the future,
-- time-valid slots of an (mo_code, specialty_code) pair, some have doctor_status 'active' and
-- none starting in [as_of, as_of + horizon_days) is 'free' (whatever its doctor's status).
-- Routed by the raw mo_code (reading 9). No single value: value is NULL.
SELECT 'SCH.HORIZON.EMPTY' AS check_code, s.mo_code || '/' || s.specialty_code AS record_id,
       'status' AS field, CAST(NULL AS VARCHAR) AS value,
       CAST(NULL AS VARCHAR) AS patient_id, s.mo_code AS route_mo
FROM $batch AS s
WHERE s.is_future AND s.time_valid
GROUP BY s.mo_code, s.specialty_code
HAVING bool_or(s.doctor_status = 'active')
   AND NOT bool_or(s.status = 'free'
                   AND s.start_ts < $as_of + to_days(CAST($horizon_days AS INTEGER)))
