"""The audit log: an append-only record of who changed what (actor, action, object, before/after,
time, source IP, tenant). A low layer (just above ccp.core) so that every app may write to it through
`ccp.audit.services.audit_record`; it imports nothing of the other apps and holds no foreign keys, so
an entry outlives whatever it names and no cascade ever tries to delete one.

The database refuses UPDATE and DELETE on the table (a trigger, on PostgreSQL and SQLite: migration
0002), as the consent history does; the model's save()/delete() refuse too.
"""
