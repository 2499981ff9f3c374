"""The work queue's PostgreSQL tables, which need vacuuming far more often than autovacuum's defaults.

Every cycle updates an item (its slot counter, which the pick's partial index depends on, so the
update cannot be HOT) and an assignment (its status, which three indexes hold), leaving dead index
entries behind. Until a vacuum removes them, each pick walks the dead entries of every item filled
since (the partial index's head), and each `next` the dead entries of the annotator's own past
leases; index scans on pages that keep changing cannot mark them dead for the next scan. Measured
(bench/throughput.py, 20 annotators): PostgreSQL's CPU per cycle grew from 2.4 to 6.6 ms over
75 s without a vacuum; with this one every 10 s it stayed at 1.4-2.1 ms, each vacuum taking
40-84 ms. Autovacuum's defaults would wait for a fifth of the items table to be dead.

This module is plain constants so that bench/throughput.py can run the same statement without
setting Django up; services.work_queue_vacuum runs it (beat, every QUORUM_QUEUE_VACUUM_SECONDS).
"""

HOT_TABLES = ("annotation_item", "annotation_assignment")

# INDEX_CLEANUP ON: the dead index entries are the point, and with few dead rows on a large table
# (AUTO) PostgreSQL would skip the indexes. SKIP_LOCKED: never wait behind a migration's lock.
VACUUM_SQL = f"VACUUM (SKIP_LOCKED, INDEX_CLEANUP ON) {', '.join(HOT_TABLES)}"
