-- REG.POLICY.ENP: an active policy of a linked patient whose enp is not the register's, except
-- a policy_type 3 policy whose enp is empty or not a valid ENP (POL.ENP.* says that).
SELECT 'REG.POLICY.ENP' AS check_code, a.policy_id AS record_id, 'enp' AS field,
       a.enp AS value, a.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS a
JOIN reg_values AS v ON v.patient_id = a.patient_id
WHERE a.is_active AND a.enp IS DISTINCT FROM v.enp
  AND NOT (a.policy_type = '3' AND (a.enp = '' OR NOT a.enp_valid))
