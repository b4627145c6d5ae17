-- SCH.OVERLAP: two future, time-valid slots of the same doctor_id, neither 'blocked', whose
-- [start, end) intervals overlap and which are not both 'booked': both slots.
-- Sort-based, no self-join, in two steps:
-- 1. `near`: the (hash(doctor_id), start_ts, end_ts) of slots that overlap another slot of
--    their doctor, whatever the statuses (neither blocked): $$overlapping (checks/set_rules.py
--    OVERLAPPING, shared with SCH.DOUBLE_BOOKING; why this keeps every finding is said there).
-- 2. On the slots of `near` (`c`), with a doctor's slots ordered by (start_ts, slot_id), an
--    earlier slot overlaps this one iff its end_ts > this start_ts, so the running max of
--    earlier ends decides; a later slot overlaps iff its start_ts < this end_ts, so the min of
--    later starts decides. A booked slot only counts partners that are not booked (the *_nb
--    columns).
WITH overlap_candidates AS (
    SELECT hash(doctor_id) AS h, start_ts, end_ts
    FROM $batch
    WHERE is_future AND time_valid AND status <> 'blocked'
),
near AS ($overlapping),
c AS (
    SELECT b.slot_id, b.mo_code, b.patient_id, b.slot_start, b.slot_end, b.status, b.start_ts,
           b.end_ts,
           max(b.end_ts) OVER before_me AS prev_end_any,
           max(CASE WHEN b.status <> 'booked' THEN b.end_ts END) OVER before_me AS prev_end_nb,
           min(b.start_ts) OVER after_me AS next_start_any,
           min(CASE WHEN b.status <> 'booked' THEN b.start_ts END) OVER after_me AS next_start_nb
    FROM $batch AS b
    SEMI JOIN near AS n ON n.h = hash(b.doctor_id)
        AND n.start_ts = b.start_ts AND n.end_ts = b.end_ts
    WHERE b.is_future AND b.time_valid AND b.status <> 'blocked'
      -- implied by the semi join; a one-column filter DuckDB pushes into the scan, so the
      -- wide columns are read for the few slots at those times, not for every slot
      AND b.start_ts IN (SELECT start_ts FROM near)
    WINDOW before_me AS (PARTITION BY b.doctor_id ORDER BY b.start_ts, b.slot_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
           after_me AS (PARTITION BY b.doctor_id ORDER BY b.start_ts, b.slot_id
                        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
)
SELECT 'SCH.OVERLAP' AS check_code, s.slot_id AS record_id,
       'slot_start, slot_end' AS field,
       s.slot_start || ', ' || s.slot_end AS value, nullif(s.patient_id, '') AS patient_id, s.mo_code AS route_mo
FROM c AS s
WHERE CASE WHEN s.status = 'booked'
           THEN coalesce(s.prev_end_nb > s.start_ts, false)
                OR coalesce(s.next_start_nb < s.end_ts, false)
           ELSE coalesce(s.prev_end_any > s.start_ts, false)
                OR coalesce(s.next_start_any < s.end_ts, false)
      END
