-- REG.POLICY.SMO: an active policy of a linked patient carrying the register's enp, register
-- policy not closed, no POL.SMO.UNKNOWN on it, and its smo_code differs (as text).
SELECT 'REG.POLICY.SMO' AS check_code, a.policy_id AS record_id, 'smo_code' AS field,
       a.smo_code AS value, a.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS a
JOIN reg_values AS v ON v.patient_id = a.patient_id
ANTI JOIN (SELECT record_id FROM run_findings WHERE check_code = 'POL.SMO.UNKNOWN') AS n
    ON n.record_id = a.policy_id
WHERE a.is_active AND a.enp = v.enp AND NOT v.closed AND a.smo_code <> v.smo_code
