-- SCH.OVERLAP: two future, time-valid slots of the same doctor_id, neither 'blocked', whose
-- [start, end) intervals overlap and which are not both 'booked': both slots.
-- Sort-based, no self-join: with a doctor's slots ordered by (start_ts, slot_id), an earlier
-- slot overlaps this one iff its end_ts > this start_ts, so the running max of earlier ends
-- decides; a later slot overlaps iff its start_ts < this end_ts, so the min of later starts
-- decides. A booked slot only counts partners that are not booked (the *_nb columns).
WITH s AS (
    SELECT slot_id, mo_code, patient_id, slot_start, slot_end, status, start_ts, end_ts,
           max(end_ts) OVER before_me AS prev_end_any,
           max(CASE WHEN status <> 'booked' THEN end_ts END) OVER before_me AS prev_end_nb,
           min(start_ts) OVER after_me AS next_start_any,
           min(CASE WHEN status <> 'booked' THEN start_ts END) OVER after_me AS next_start_nb
    FROM $batch
    WHERE is_future AND time_valid AND status <> 'blocked'
    WINDOW before_me AS (PARTITION BY doctor_id ORDER BY start_ts, slot_id
                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
           after_me AS (PARTITION BY doctor_id ORDER BY start_ts, slot_id
                        ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)
)
SELECT 'SCH.OVERLAP' AS check_code, s.slot_id AS record_id,
       'slot_start, slot_end' AS field,
       s.slot_start || ', ' || s.slot_end AS value, nullif(s.patient_id, '') AS patient_id, s.mo_code AS route_mo
FROM s
WHERE CASE WHEN s.status = 'booked'
           THEN coalesce(s.prev_end_nb > s.start_ts, false)
                OR coalesce(s.next_start_nb < s.end_ts, false)
           ELSE coalesce(s.prev_end_any > s.start_ts, false)
                OR coalesce(s.next_start_any < s.end_ts, false)
      END
