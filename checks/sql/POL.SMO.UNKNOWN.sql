-- POL.SMO.UNKNOWN: an active policy whose smo_code is not in F002 (cur_smo), or whose insurer
-- is out of the registry on D (every insInclude period ended before D: cur_smo.excluded).
SELECT 'POL.SMO.UNKNOWN' AS check_code, q.policy_id AS record_id, 'smo_code' AS field,
       q.smo_code AS value, q.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS q
-- an ANTI JOIN, not NOT EXISTS: see PAT.POLICY.NONE
ANTI JOIN (SELECT smocod FROM cur_smo WHERE NOT coalesce(excluded, false)) AS s
    ON s.smocod = q.smo_code
WHERE q.is_active
