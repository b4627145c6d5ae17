-- REG.POLICY.CLOSED: an active policy of a linked patient who is not register deceased, whose
-- register policy ended before D.
SELECT 'REG.POLICY.CLOSED' AS check_code, a.policy_id AS record_id, 'date_end' AS field,
       a.date_end AS value, a.patient_id AS patient_id, CAST(NULL AS VARCHAR) AS route_mo
FROM $batch AS a
JOIN reg_values AS v ON v.patient_id = a.patient_id
WHERE a.is_active AND v.closed AND NOT v.deceased
