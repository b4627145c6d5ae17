-- SCH.DOUBLE_BOOKING: two future, time-valid 'booked' slots of the same doctor_id whose
-- [start, end) intervals overlap and whose patient_ids (as text) differ: both slots.
-- Two steps, neither a self-join:
-- 1. `near`: the (hash(doctor_id), start_ts, end_ts) of booked slots that overlap another
--    booked slot of their doctor, by patient or not: $$overlapping (checks/set_rules.py
--    OVERLAPPING, shared with SCH.OVERLAP; why this keeps every finding is said there).
-- 2. Counting on the slots of `near` (`c`): the booked slots overlapping [a, b) number
--      #(start < b) - #(end <= a),
--    counted by running sums over a doctor's sorted events. Counted per doctor and per
--    (doctor, patient_id), a slot has a partner of another patient iff the two counts differ
--    (each count includes the slot itself).
WITH overlap_candidates AS (
    SELECT hash(doctor_id) AS h, start_ts, end_ts
    FROM $batch
    WHERE is_future AND time_valid AND status = 'booked'
),
near AS ($overlapping),
c AS (
    SELECT s.slot_id, s.doctor_id, s.patient_id, s.start_ts, s.end_ts, s.slot_start, s.slot_end,
           s.mo_code
    FROM $batch AS s
    SEMI JOIN near AS n ON n.h = hash(s.doctor_id)
        AND n.start_ts = s.start_ts AND n.end_ts = s.end_ts
    WHERE s.is_future AND s.time_valid AND s.status = 'booked'
      -- implied by the semi join; a one-column filter DuckDB pushes into the scan, as in
      -- the SCH.OVERLAP file
      AND s.start_ts IN (SELECT start_ts FROM near)
),
-- starts strictly before each slot's end: at equal times the query row (k = 0) sorts first
starts_before_end AS (
    SELECT slot_id,
           sum(is_event) OVER (PARTITION BY doctor_id ORDER BY t, k
                               ROWS UNBOUNDED PRECEDING) AS n_doctor,
           sum(is_event) OVER (PARTITION BY doctor_id, patient_id ORDER BY t, k
                               ROWS UNBOUNDED PRECEDING) AS n_patient
    FROM (SELECT doctor_id, patient_id, start_ts AS t, 1 AS k, 1 AS is_event,
                 CAST(NULL AS VARCHAR) AS slot_id FROM c
          UNION ALL
          SELECT doctor_id, patient_id, end_ts, 0, 0, slot_id FROM c)
    QUALIFY slot_id IS NOT NULL
),
-- ends at or before each slot's start: at equal times the end event (k = 0) sorts first
ends_before_start AS (
    SELECT slot_id,
           sum(is_event) OVER (PARTITION BY doctor_id ORDER BY t, k
                               ROWS UNBOUNDED PRECEDING) AS n_doctor,
           sum(is_event) OVER (PARTITION BY doctor_id, patient_id ORDER BY t, k
                               ROWS UNBOUNDED PRECEDING) AS n_patient
    FROM (SELECT doctor_id, patient_id, end_ts AS t, 0 AS k, 1 AS is_event,
                 CAST(NULL AS VARCHAR) AS slot_id FROM c
          UNION ALL
          SELECT doctor_id, patient_id, start_ts, 1, 0, slot_id FROM c)
    QUALIFY slot_id IS NOT NULL
)
SELECT 'SCH.DOUBLE_BOOKING' AS check_code, s.slot_id AS record_id,
       'slot_start, slot_end' AS field,
       s.slot_start || ', ' || s.slot_end AS value, nullif(s.patient_id, '') AS patient_id, s.mo_code AS route_mo
FROM starts_before_end AS x
JOIN ends_before_start AS y ON y.slot_id = x.slot_id
JOIN c AS s ON s.slot_id = x.slot_id
WHERE (x.n_doctor - y.n_doctor) > (x.n_patient - y.n_patient)
